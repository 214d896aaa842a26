//! Encode and decode of one ten-field record: nonrel against bson's raw builder and serde.
//!
//! Every encoder writes into a freshly allocated buffer (`RawDocumentBuf::new()` and
//! `serialize_to_vec` allocate their own, so ours does too).

use crate::model::{hand_decode, item, raw_encode, twin, Item, SerdeItem};
use criterion::{Criterion, SamplingMode};
use nonrel_runtime::Model;
use std::hint::black_box;

pub fn encode(c: &mut Criterion) {
    let m = item(7, 20_000);
    let t = twin(&m);
    let mut g = c.benchmark_group("encode");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("nonrel", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            black_box(&m).encode(&mut out).expect("encode");
            out
        })
    });
    g.bench_function("raw_document_buf", |b| b.iter(|| raw_encode(black_box(&m))));
    g.bench_function("serde", |b| b.iter(|| bson::serialize_to_vec(black_box(&t)).expect("serialize")));
    g.finish();
}

pub fn decode(c: &mut Criterion) {
    let mut bytes = Vec::new();
    item(7, 20_000).encode(&mut bytes).expect("encode");
    let mut g = c.benchmark_group("decode");
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("nonrel", |b| b.iter(|| Item::decode(None, black_box(&bytes)).expect("decode")));
    g.bench_function("serde", |b| {
        b.iter(|| bson::deserialize_from_slice::<SerdeItem>(black_box(&bytes)).expect("deserialize"))
    });
    // Not a ratio target; shows where the hand-written decoder of the store baselines stands.
    g.bench_function("raw_document", |b| b.iter(|| hand_decode(black_box(&bytes)).expect("decode")));
    g.finish();
}
