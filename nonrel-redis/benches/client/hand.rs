//! The baseline: the same operations written by hand with redis-rs on nonrel's Redis layout
//! (see the crate README): a record is a string holding its BSON document under
//! `{<prefix>:<collection>}:r:<key>`, each index a sorted set of members `encoded value, key,
//! key length`, the key set a sorted set, the entry list a string, the write count a
//! counter. Each operation sends the commands nonrel sends: one script for a save, an `MGET`
//! for a get, one script for an indexed query, two for an update by query.

use crate::model::{record, twin, SerdeRec};
use nonrel_runtime::order::{encoded, successor};
use nonrel_runtime::Value;
use redis::aio::MultiplexedConnection;
use redis::Script;

/// Writes a new record: refuses an existing key or a taken SKU, then writes the record, its
/// index entries (and their list) and its key-set member, and counts the write.
const SAVE: &str = r#"
local base, kb, doc = KEYS[1], ARGV[1], ARGV[2]
if redis.call('EXISTS', base .. ':r:' .. kb) == 1 then return redis.error_reply('key exists') end
local taken = redis.call('ZRANGEBYLEX', base .. ':i:sku', '[' .. ARGV[3], '(' .. ARGV[4], 'LIMIT', 0, 1)
if #taken > 0 then return redis.error_reply('sku taken') end
redis.call('SET', base .. ':r:' .. kb, doc)
redis.call('ZADD', base .. ':k', 0, kb)
local list = {}
for j = 5, #ARGV, 2 do
  redis.call('ZADD', base .. ':i:' .. ARGV[j], 0, ARGV[j + 1])
  list[#list + 1] = struct.pack('>I2', #ARGV[j]) .. ARGV[j] .. struct.pack('>I4', #ARGV[j + 1]) .. ARGV[j + 1]
end
redis.call('SET', base .. ':e:' .. kb, table.concat(list))
redis.call('INCR', base .. ':v')
return 1
"#;

/// Reads an index range and its records: `{key, doc, key, doc, ...}`.
const READ: &str = r#"
local base = KEYS[1]
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYLEX', base .. ':i:' .. ARGV[1], ARGV[2], ARGV[3])) do
  local l = struct.unpack('>I4', m, #m - 3)
  local kb = string.sub(m, #m - 3 - l, #m - 4)
  out[#out + 1] = kb
  out[#out + 1] = redis.call('GET', base .. ':r:' .. kb)
end
return out
"#;

/// Replaces a record if it still holds the document read (its index entries stay: the
/// changed field is not indexed). Returns 1 when written.
const SWAP: &str = r#"
local k = KEYS[1] .. ':r:' .. ARGV[1]
if redis.call('GET', k) ~= ARGV[2] then return 0 end
redis.call('SET', k, ARGV[3])
redis.call('INCR', KEYS[1] .. ':v')
return 1
"#;

/// The hand-written client: one multiplexed connection, its scripts, its collection's base.
pub struct Hand {
    conn: MultiplexedConnection,
    base: String,
    save: Script,
    read: Script,
    swap: Script,
}

/// A record key's bytes in the layout: the integer tag, then the integer with its sign bit
/// flipped, big-endian (so keys sort like the integers).
fn key_bytes(k: i64) -> Vec<u8> {
    let mut kb = vec![0x10];
    kb.extend_from_slice(&((k as u64) ^ (1 << 63)).to_be_bytes());
    kb
}

/// An index member: encoded value, key bytes, key length.
fn member(enc: &[u8], kb: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(enc.len() + kb.len() + 4);
    m.extend_from_slice(enc);
    m.extend_from_slice(kb);
    m.extend_from_slice(&(kb.len() as u32).to_be_bytes());
    m
}

/// `ZRANGEBYLEX` bounds of every member holding `v`.
fn prefix_range(v: &Value) -> (Vec<u8>, Vec<u8>) {
    let enc = encoded(v);
    let end = successor(&enc).expect("a value's range ends");
    ([b"[".as_slice(), &enc].concat(), [b"(".as_slice(), &end].concat())
}

impl Hand {
    /// Connects to `url`; the collection lives under `{<prefix>:bench_recs}`.
    pub async fn connect(url: &str, prefix: &str) -> Hand {
        let client = redis::Client::open(url).expect("REDIS_URL parses");
        let conn = client.get_multiplexed_async_connection().await.expect("Redis answers");
        Hand {
            conn,
            base: format!("{{{prefix}:bench_recs}}"),
            save: Script::new(SAVE),
            read: Script::new(READ),
            swap: Script::new(SWAP),
        }
    }

    /// Loads records `from..to`, one save each, 100 in flight.
    pub async fn load(&self, from: i64, to: i64) {
        let mut i = from;
        while i < to {
            let end = (i + 100).min(to);
            let recs: Vec<_> = (i..end).map(|k| (k, twin(&record(k)))).collect();
            let saves = recs.iter().map(|(k, r)| self.save(*k, r));
            futures_util::future::join_all(saves).await;
            i = end;
        }
    }

    /// Saves a new record.
    pub async fn save(&self, k: i64, r: &SerdeRec) {
        let kb = key_bytes(k);
        let doc = bson::serialize_to_vec(r).expect("serde encode");
        let sku = encoded(&Value::String(r.sku.clone()));
        let sku_end = successor(&sku).expect("a value's range ends");
        let group = encoded(&Value::Int64(r.group));
        let mut call = self.save.key(&self.base);
        call.arg(&kb).arg(&doc).arg(&sku).arg(&sku_end);
        call.arg("sku").arg(member(&sku, &kb)).arg("group").arg(member(&group, &kb));
        let _: i64 = call.invoke_async(&mut self.conn.clone()).await.expect("hand save");
    }

    /// Gets a record by key.
    pub async fn get(&self, k: i64) -> SerdeRec {
        let mut name = format!("{}:r:", self.base).into_bytes();
        name.extend_from_slice(&key_bytes(k));
        let docs: Vec<Option<Vec<u8>>> =
            redis::cmd("MGET").arg(&name).query_async(&mut self.conn.clone()).await.expect("hand MGET");
        let doc = docs.into_iter().next().flatten().expect("record exists");
        bson::deserialize_from_slice(&doc).expect("serde decode")
    }

    /// Reads the records holding `v` in index `index`: key bytes and documents.
    async fn read(&self, index: &str, v: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (lo, hi) = prefix_range(v);
        let mut call = self.read.key(&self.base);
        call.arg(index).arg(lo).arg(hi);
        let flat: Vec<Vec<u8>> = call.invoke_async(&mut self.conn.clone()).await.expect("hand read");
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(kb), Some(doc)) = (it.next(), it.next()) {
            out.push((kb, doc));
        }
        out
    }

    /// The records of a group, in key order.
    pub async fn query_group(&self, group: i64) -> Vec<SerdeRec> {
        let mut rows = self.read("group", &Value::Int64(group)).await;
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.iter().map(|(_, doc)| bson::deserialize_from_slice(doc).expect("serde decode")).collect()
    }

    /// Sets `qty` of the record with SKU `sku`: read it through the unique index, change it,
    /// write it back if unchanged meanwhile (read again otherwise).
    pub async fn set_qty(&self, sku: &str, qty: i64) {
        loop {
            let rows = self.read("sku", &Value::String(sku.to_owned())).await;
            let (kb, old) = rows.into_iter().next().expect("a record with this SKU");
            let mut r: SerdeRec = bson::deserialize_from_slice(&old).expect("serde decode");
            r.qty = qty;
            let new = bson::serialize_to_vec(&r).expect("serde encode");
            if new == old {
                return;
            }
            let mut call = self.swap.key(&self.base);
            call.arg(&kb).arg(&old).arg(&new);
            let written: i64 = call.invoke_async(&mut self.conn.clone()).await.expect("hand swap");
            if written == 1 {
                return;
            }
        }
    }
}

/// Removes every key a benchmark run wrote (those starting with `{<tag>`), by `SCAN`.
pub async fn remove(url: &str, tag: &str) {
    let Ok(client) = redis::Client::open(url) else { return };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else { return };
    let mut cursor = 0u64;
    loop {
        let scanned: redis::RedisResult<(u64, Vec<Vec<u8>>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{{{tag}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = scanned else { return };
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
