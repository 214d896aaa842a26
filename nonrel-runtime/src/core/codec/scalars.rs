//! Booleans, numbers, strings, dates, blobs, options and boxes.

use super::decode_error;
use super::{
    fixed_bytes, header, put_str, read_str, Decode, Elements, Encode, BINARY, BOOL, DATETIME, DOUBLE, INT32, INT64,
    NULL, STRING,
};
use crate::core::value::Blob;
use crate::error::{Error, ErrorKind, Result};
use chrono::{DateTime, Utc};

impl Encode for bool {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, BOOL, name);
        out.push(u8::from(*self));
        Ok(())
    }

    #[inline]
    fn scalar(&self) -> Option<super::Scalar<'_>> {
        Some(super::Scalar::Bool(*self))
    }
}

impl Decode for bool {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        let at = elements.pos;
        match elements.next_fixed::<1>(BOOL, cname)? {
            [0] => Some(false),
            [1] => Some(true),
            _ => {
                // Not a bool byte: read again as any element, to report it.
                elements.pos = at;
                None
            }
        }
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        match (ty, value) {
            (BOOL, [0]) => Ok(false),
            (BOOL, [1]) => Ok(true),
            (BOOL, _) => Err(super::malformed("bool byte is neither 0 nor 1")),
            _ => Err(decode_error("bool", ty)),
        }
    }
}

/// A number as stored, before conversion to the field's type.
#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

fn read_number(expected: &str, ty: u8, value: &[u8]) -> Result<Number> {
    Ok(match ty {
        INT32 => Number::Int(i32::from_le_bytes(fixed_bytes(value)?) as i64),
        INT64 => Number::Int(i64::from_le_bytes(fixed_bytes(value)?)),
        DOUBLE => Number::Float(f64::from_le_bytes(fixed_bytes(value)?)),
        _ => return Err(decode_error(expected, ty)),
    })
}

fn out_of_range(what: impl std::fmt::Display, ty: &str) -> Error {
    Error::new(ErrorKind::Decode, format!("value {what} is out of range for {ty}"))
}

macro_rules! small_int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
                header(out, INT32, name);
                out.extend_from_slice(&(*self as i32).to_le_bytes());
                Ok(())
            }
        }
        impl Decode for $t {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

            fn decode(ty: u8, value: &[u8]) -> Result<Self> {
                decode_int(ty, value, stringify!($t))
            }
        }
    )*};
}

macro_rules! big_int {
    ($($t:ty),*) => {$(
        impl Encode for $t {
            #[inline]
            fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
                let v = i64::try_from(*self).map_err(|_| {
                    let msg = format!("value {} does not fit a 64-bit signed integer", self);
                    Error::new(ErrorKind::Encode, msg)
                })?;
                header(out, INT64, name);
                out.extend_from_slice(&v.to_le_bytes());
                Ok(())
            }
        }
        impl Decode for $t {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

            fn decode(ty: u8, value: &[u8]) -> Result<Self> {
                decode_int(ty, value, stringify!($t))
            }
        }
    )*};
}

small_int!(i8, i16, i32, u8, u16);
big_int!(u32, u64, usize, i128, u128);

impl Encode for i64 {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, INT64, name);
        out.extend_from_slice(&self.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn scalar(&self) -> Option<super::Scalar<'_>> {
        Some(super::Scalar::Int64(*self))
    }
}

impl Decode for i64 {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        elements.next_fixed::<8>(INT64, cname).map(i64::from_le_bytes)
    }

    #[inline]
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty == INT64 {
            return Ok(i64::from_le_bytes(fixed_bytes(value)?));
        }
        decode_int(ty, value, "i64")
    }
}

impl Encode for isize {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        (*self as i64).encode(name, out)
    }
}

impl Decode for isize {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        decode_int(ty, value, "isize")
    }
}

/// Any integer width from an int32, int64 or integral double, range-checked.
fn decode_int<T: TryFrom<i64>>(ty: u8, value: &[u8], name: &str) -> Result<T> {
    let n = match read_number("integer", ty, value)? {
        Number::Int(n) => n,
        Number::Float(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => f as i64,
        Number::Float(f) => return Err(out_of_range(f, name)),
    };
    T::try_from(n).map_err(|_| out_of_range(n, name))
}

impl Encode for f64 {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, DOUBLE, name);
        out.extend_from_slice(&self.to_le_bytes());
        Ok(())
    }

    #[inline]
    fn scalar(&self) -> Option<super::Scalar<'_>> {
        Some(super::Scalar::Double(*self))
    }
}

impl Decode for f64 {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        elements.next_fixed::<8>(DOUBLE, cname).map(f64::from_le_bytes)
    }

    #[inline]
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        Ok(match read_number("double", ty, value)? {
            Number::Int(n) => n as f64,
            Number::Float(f) => f,
        })
    }
}

impl Encode for f32 {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        f64::from(*self).encode(name, out)
    }
}

impl Decode for f32 {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        f64::decode(ty, value).map(|f| f as f32)
    }
}

impl Encode for String {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.as_str().encode(name, out)
    }

    #[inline]
    fn scalar(&self) -> Option<super::Scalar<'_>> {
        Some(super::Scalar::Text(self))
    }
}

impl Encode for str {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, STRING, name);
        put_str(out, self);
        Ok(())
    }

    #[inline]
    fn scalar(&self) -> Option<super::Scalar<'_>> {
        Some(super::Scalar::Text(self))
    }
}

impl Decode for String {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        elements.next_str(cname).map(str::to_owned)
    }

    #[inline]
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        read_str(ty, value).map(str::to_owned)
    }
}

impl Encode for DateTime<Utc> {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, DATETIME, name);
        out.extend_from_slice(&self.timestamp_millis().to_le_bytes());
        Ok(())
    }
}

impl Decode for DateTime<Utc> {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty != DATETIME {
            return Err(decode_error("date", ty));
        }
        let ms = i64::from_le_bytes(fixed_bytes(value)?);
        DateTime::from_timestamp_millis(ms).ok_or_else(|| out_of_range(ms, "a date-time"))
    }
}

impl Encode for Blob {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, BINARY, name);
        out.extend_from_slice(&(self.0.len() as i32).to_le_bytes());
        out.push(0);
        out.extend_from_slice(&self.0);
        Ok(())
    }
}

impl Decode for Blob {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty != BINARY {
            return Err(decode_error("binary", ty));
        }
        let data = value.get(5..).ok_or_else(|| super::malformed("truncated binary"))?;
        Ok(Blob(data.to_vec()))
    }
}

impl<T: Encode> Encode for Option<T> {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self {
            Some(v) => v.encode(name, out),
            None => {
                header(out, NULL, name);
                Ok(())
            }
        }
    }
}

impl<T: Decode> Decode for Option<T> {
    #[inline(always)]
    fn decode_next(elements: &mut Elements<'_>, cname: &[u8]) -> Option<Self> {
        T::decode_next(elements, cname).map(Some)
    }

    #[inline]
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty == NULL {
            return Ok(None);
        }
        T::decode(ty, value).map(Some)
    }

    fn when_missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: Encode + ?Sized> Encode for Box<T> {
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        (**self).encode(name, out)
    }

    fn scalar(&self) -> Option<super::Scalar<'_>> {
        (**self).scalar()
    }
}

impl<T: Decode> Decode for Box<T> {
    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        T::decode(ty, value).map(Box::new)
    }

    fn when_missing() -> Option<Self> {
        T::when_missing().map(Box::new)
    }
}
