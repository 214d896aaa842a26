//! `rust_decimal::Decimal` <-> BSON decimal128 (IEEE 754-2008, binary integer decimal).

use super::decode_error;
use super::{header, Decode, Encode, DECIMAL128};
use crate::error::{Error, ErrorKind, Result};
use rust_decimal::Decimal;

const EXPONENT_BIAS: i32 = 6176;
const COEFFICIENT_BITS: u32 = 113;

/// The 16 little-endian bytes of a decimal128 holding `d` exactly.
pub(crate) fn to_decimal128(d: &Decimal) -> [u8; 16] {
    let coefficient = d.mantissa().unsigned_abs();
    let biased = (EXPONENT_BIAS - d.scale() as i32) as u128;
    let sign = u128::from(d.is_sign_negative() && !d.is_zero());
    ((sign << 127) | (biased << COEFFICIENT_BITS) | coefficient).to_le_bytes()
}

/// The decimal a decimal128 holds, if `rust_decimal` can represent it exactly.
pub(crate) fn from_decimal128(bytes: [u8; 16]) -> Result<Decimal> {
    let bits = u128::from_le_bytes(bytes);
    let negative = bits >> 127 == 1;
    let (exponent, mut coefficient) = if (bits >> 125) & 0b11 == 0b11 {
        if (bits >> 122) & 0b11111 >= 0b11110 {
            return Err(unrepresentable("infinity or NaN"));
        }
        // A coefficient in this form is always above the maximum, which the standard reads as 0.
        (((bits >> 111) & 0x3FFF) as i32 - EXPONENT_BIAS, 0u128)
    } else {
        (((bits >> COEFFICIENT_BITS) & 0x3FFF) as i32 - EXPONENT_BIAS, bits & ((1u128 << COEFFICIENT_BITS) - 1))
    };
    let mut scale = -exponent;
    while scale < 0 {
        coefficient = coefficient.checked_mul(10).ok_or_else(|| unrepresentable("too large"))?;
        scale += 1;
    }
    while scale > 28 && coefficient % 10 == 0 && coefficient != 0 {
        coefficient /= 10;
        scale -= 1;
    }
    if coefficient == 0 {
        scale = scale.min(28);
    }
    let signed = i128::try_from(coefficient).map_err(|_| unrepresentable("too large"))?;
    let signed = if negative { -signed } else { signed };
    Decimal::try_from_i128_with_scale(signed, scale as u32).map_err(|_| unrepresentable("out of range"))
}

fn unrepresentable(why: &str) -> Error {
    Error::new(ErrorKind::Decode, format!("decimal128 value {why} for a 96-bit decimal"))
}

impl Encode for Decimal {
    #[inline]
    fn encode(&self, name: &[u8], out: &mut Vec<u8>) -> Result<()> {
        header(out, DECIMAL128, name);
        out.extend_from_slice(&to_decimal128(self));
        Ok(())
    }
}

impl Decode for Decimal {
    fn placeholder() -> Option<Self> {
        Some(Self::default())
    }

    fn decode(ty: u8, value: &[u8]) -> Result<Self> {
        if ty != DECIMAL128 {
            return Err(decode_error("decimal128", ty));
        }
        from_decimal128(super::fixed_bytes(value)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn round_trips_and_matches_the_standard_layout() {
        for s in ["0", "1", "-1", "3.14159", "-0.000001", "79228162514264337593543950335", "1e-28"] {
            let d = Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s)).unwrap();
            assert_eq!(from_decimal128(to_decimal128(&d)).unwrap(), d, "{s}");
        }
        // 1 is coefficient 1, exponent 0: biased exponent 6176 in bits 113..127.
        let one = u128::from_le_bytes(to_decimal128(&Decimal::ONE));
        assert_eq!(one, (6176u128 << 113) | 1);
    }

    #[test]
    fn rejects_what_it_cannot_hold() {
        let inf = (0b11110u128 << 122).to_le_bytes();
        assert!(from_decimal128(inf).is_err());
        let huge = ((6176u128 + 40) << 113 | 1).to_le_bytes();
        assert!(from_decimal128(huge).is_err());
    }
}
