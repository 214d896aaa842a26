//! The server-side scripts. Each runs atomically in Redis; user values reach them only as
//! `ARGV` (keys, documents, encoded index values), never as script text.
//!
//! Layout, per collection `c` under the handle's prefix `p` (the braces are the cluster hash
//! tag, so every key of a collection lies in one slot):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p:c}:r:<key>` | string | the record's BSON document |
//! | `{p:c}:e:<key>` | string | the record's index entries (index name and member, length-prefixed) |
//! | `{p:c}:k` | sorted set | every record key, score 0: key order by `ZRANGEBYLEX` |
//! | `{p:c}:i:<path>` | sorted set | one member per entry: encoded value, key, key length (4 bytes) |
//! | `{p:c}:a` | string | the last automatic key |
//! | `{p:c}:v` | string | the collection's write count, for transactions' query checks |
//! | `{p:c}:n:<grouping>` | hash | a declared count (`count_by`): encoded group values to their number of records, `\0g` the generation writes keep, `\0b` the generation that covers every record |
//!
//! A record's entry list also names the counter groups it was counted in: entry name a zero
//! byte and the grouping's name, member the generation (4 bytes) and the group's encoded
//! values. A write takes the record out of the groups its list names in the counter's
//! current generation and counts it in its new ones; a group counted in an older generation
//! (before `rebuild_indexes` started the current one) is not taken out, as the current
//! counter never held it.
//!
//! `<key>` is [`KeyValue::to_storage`](nonrel_runtime::KeyValue::to_storage): bytes that
//! sort like the keys.

/// Shared helpers: an index member from an encoded value and a key, the stored entry list,
/// and counter changes (each group's changes added up, then applied once; a group reaching
/// zero is removed).
const COMMON: &str = r#"
local Z = string.char(0)
local function member(enc, kb) return enc .. kb .. struct.pack('>I4', #kb) end
local gens = {}
local function gen(base, name)
  local k = base .. Z .. name
  local g = gens[k]
  if g == nil then
    g = redis.call('HGET', base .. ':n:' .. name, Z .. 'g') or false
    gens[k] = g
  end
  return g
end
local deltas = {list = {}, at = {}}
local function add(key, group, n)
  local id = key .. Z .. group
  local at = deltas.at[id]
  if not at then
    at = #deltas.list + 1
    deltas.at[id] = at
    deltas.list[at] = {key, group, 0}
  end
  deltas.list[at][3] = deltas.list[at][3] + n
end
local function is_counted(e) return string.byte(e[1], 1) == 0 end
local function uncount(base, e)
  local name = string.sub(e[1], 2)
  local g = gen(base, name)
  if g and struct.unpack('>I4', e[2]) == tonumber(g) then add(base .. ':n:' .. name, string.sub(e[2], 5), -1) end
end
local function flush()
  for _, d in ipairs(deltas.list) do
    if d[3] ~= 0 then
      if redis.call('HINCRBY', d[1], d[2], d[3]) == 0 then redis.call('HDEL', d[1], d[2]) end
    end
  end
end
local function parse(blob)
  local out, pos = {}, 1
  if not blob then return out end
  while pos <= #blob do
    local l
    l, pos = struct.unpack('>I2', blob, pos)
    local ix = string.sub(blob, pos, pos + l - 1)
    pos = pos + l
    l, pos = struct.unpack('>I4', blob, pos)
    out[#out + 1] = {ix, string.sub(blob, pos, pos + l - 1)}
    pos = pos + l
  end
  return out
end
"#;

/// Writes records: checks first (existence, expected documents, transaction reads, unique
/// values against the store and the batch), then every write, so a refused batch writes
/// nothing.
///
/// `KEYS`: the collection bases (`{p:c}`). `ARGV`: kind (`W` write, `S` compare-and-set),
/// the number of checks, each check (`R` base-index key present expected-doc, or `V`
/// base-index version), the number of items, then each item: its head (one argument: mode
/// `I` insert, `U` upsert or `R` replace, op `P` put or `D` delete, expect `*` anything, `-`
/// absent (else return it for merging) or `=` exactly the expected bytes, then the base
/// index in digits), key bytes (empty: automatic), expected bytes, document, entry count,
/// then per entry: index name, encoded value, and the
/// end of the value's range for a unique index (empty otherwise), then the number of
/// counters the collection keeps and per counter: its grouping's name, the number of the
/// document's groups, and each group's encoded values.
///
/// Returns the number of items when every item was written as given (no automatic key
/// assigned, no compare-and-set refused), else `{'OK', key...}`, `{'SWAP', status, doc, ...}`
/// (status `W` written, `M` missing, `C` changed with its current doc), `{'DUP', item}`,
/// `{'UNIQUE', item, entry, owner}`, `{'MERGE', item, current-or-nil, ...}` or
/// `{'CONFLICT', check}`. (A bare integer is the cheapest answer to read: the common write
/// needs nothing back.)
pub(crate) const WRITE: &str = r#"
local kind = ARGV[1]
local a = 2
local nchecks = tonumber(ARGV[a]); a = a + 1
for c = 1, nchecks do
  local what, base = ARGV[a], KEYS[tonumber(ARGV[a + 1])]
  if what == 'R' then
    local cur = redis.call('GET', base .. ':r:' .. ARGV[a + 2])
    if (cur and '1' or '0') ~= ARGV[a + 3] or (cur and cur ~= ARGV[a + 4]) then return {'CONFLICT', c} end
    a = a + 5
  else
    if (redis.call('GET', base .. ':v') or '0') ~= ARGV[a + 2] then return {'CONFLICT', c} end
    a = a + 3
  end
end
local n = tonumber(ARGV[a]); a = a + 1
local items = {}
for i = 1, n do
  local h = ARGV[a]
  local it = {base = KEYS[tonumber(string.sub(h, 4))], mode = string.sub(h, 1, 1), kb = ARGV[a + 1],
    op = string.sub(h, 2, 2), expect = string.sub(h, 3, 3), expected = ARGV[a + 2], doc = ARGV[a + 3], e = {}}
  local ne = tonumber(ARGV[a + 4])
  a = a + 5
  for j = 1, ne do
    it.e[j] = {ARGV[a], ARGV[a + 1], ARGV[a + 2]}
    a = a + 3
  end
  it.c = {}
  local nc = tonumber(ARGV[a]); a = a + 1
  for j = 1, nc do
    local name, ng = ARGV[a], tonumber(ARGV[a + 1])
    a = a + 2
    local gs = {}
    for k = 1, ng do gs[k] = ARGV[a]; a = a + 1 end
    it.c[j] = {name, gs}
  end
  items[i] = it
end
local released, claimed, merges, swapped = {}, {}, {}, {}
for i, it in ipairs(items) do
  local base, kb = it.base, it.kb
  local old = false
  if kb ~= '' then old = redis.call('GET', base .. ':r:' .. kb) end
  it.old = old
  it.skip = false
  if kind == 'S' then
    if not old then swapped[i] = 'M'; it.skip = true
    elseif old ~= it.expected then swapped[i] = 'C'; it.skip = true
    else swapped[i] = 'W' end
  elseif old and it.mode == 'I' then return {'DUP', i}
  elseif (it.expect == '-' and old) or (it.expect == '=' and old ~= it.expected) then
    merges[#merges + 1] = i
    merges[#merges + 1] = old
  end
  if not it.skip then
    it.olde = {}
    if old then
      it.olde = parse(redis.call('GET', base .. ':e:' .. kb))
      for _, e in ipairs(it.olde) do released[base .. '\0' .. e[1] .. '\0' .. e[2]] = true end
    end
    if it.op == 'P' then
      for j, e in ipairs(it.e) do
        if e[3] ~= '' then
          local ix, enc = e[1], e[2]
          local found = redis.call('ZRANGEBYLEX', base .. ':i:' .. ix, '[' .. enc, '(' .. e[3], 'LIMIT', 0, 2)
          for _, m in ipairs(found) do
            local owner = string.sub(m, #enc + 1, #m - 4)
            if owner ~= kb and not released[base .. '\0' .. ix .. '\0' .. m] then return {'UNIQUE', i, j, owner} end
          end
          local c = base .. '\0' .. ix .. '\0' .. enc
          local prev = claimed[c]
          if prev and (prev ~= kb or kb == '') then return {'UNIQUE', i, j, prev} end
          claimed[c] = kb
        end
      end
    end
  end
end
if #merges > 0 then
  local out = {'MERGE'}
  for k = 1, #merges do out[k + 1] = merges[k] end
  return out
end
-- A counter first written while the collection holds no record covers every record.
for _, it in ipairs(items) do
  if not it.skip and it.op == 'P' then
    for _, c in ipairs(it.c) do
      if not gen(it.base, c[1]) then
        local key = it.base .. ':n:' .. c[1]
        if redis.call('ZCARD', it.base .. ':k') == 0 then redis.call('HSET', key, Z .. 'g', 1, Z .. 'b', 1)
        else redis.call('HSET', key, Z .. 'g', 1) end
        gens[it.base .. Z .. c[1]] = '1'
      end
    end
  end
end
local out = {kind == 'S' and 'SWAP' or 'OK'}
local touched = {}
local plain = true
for i, it in ipairs(items) do
  local base, kb = it.base, it.kb
  if it.skip then plain = false end
  if not it.skip then
    if kb == '' then
      plain = false
      repeat
        local x = redis.call('INCR', base .. ':a')
        local t = {}
        for k = 8, 1, -1 do t[k] = x % 256; x = math.floor(x / 256) end
        t[1] = t[1] + 128
        kb = string.char(16, unpack(t))
      until redis.call('EXISTS', base .. ':r:' .. kb) == 0
    end
    for _, e in ipairs(it.olde) do
      if is_counted(e) then uncount(base, e) else redis.call('ZREM', base .. ':i:' .. e[1], e[2]) end
    end
    if it.op == 'D' then
      redis.call('DEL', base .. ':r:' .. kb, base .. ':e:' .. kb)
      redis.call('ZREM', base .. ':k', kb)
    else
      redis.call('SET', base .. ':r:' .. kb, it.doc)
      redis.call('ZADD', base .. ':k', 0, kb)
      local blob = {}
      for _, e in ipairs(it.e) do
        local m = member(e[2], kb)
        redis.call('ZADD', base .. ':i:' .. e[1], 0, m)
        blob[#blob + 1] = struct.pack('>I2', #e[1]) .. e[1] .. struct.pack('>I4', #m) .. m
      end
      for _, c in ipairs(it.c) do
        local ix, g = Z .. c[1], struct.pack('>I4', tonumber(gen(base, c[1])))
        for _, group in ipairs(c[2]) do
          add(base .. ':n:' .. c[1], group, 1)
          blob[#blob + 1] = struct.pack('>I2', #ix) .. ix .. struct.pack('>I4', 4 + #group) .. g .. group
        end
      end
      if #blob > 0 then redis.call('SET', base .. ':e:' .. kb, table.concat(blob))
      elseif it.old then redis.call('DEL', base .. ':e:' .. kb) end
    end
    touched[base] = true
    if kind ~= 'S' then out[#out + 1] = kb end
  end
  if kind == 'S' then
    out[#out + 1] = swapped[i]
    out[#out + 1] = (swapped[i] == 'C') and it.old or ''
  end
end
flush()
for base in pairs(touched) do redis.call('INCR', base .. ':v') end
if plain then return n end
return out
"#;

/// Deletes records by key with their index entries, each taken out of its counter groups.
/// `KEYS[1]`: the base; `ARGV`: key bytes.
/// Returns how many existed.
pub(crate) const DELETE: &str = r#"
local base = KEYS[1]
local n = 0
for _, kb in ipairs(ARGV) do
  if redis.call('DEL', base .. ':r:' .. kb) == 1 then
    n = n + 1
    for _, e in ipairs(parse(redis.call('GET', base .. ':e:' .. kb))) do
      if is_counted(e) then uncount(base, e) else redis.call('ZREM', base .. ':i:' .. e[1], e[2]) end
    end
    redis.call('DEL', base .. ':e:' .. kb)
    redis.call('ZREM', base .. ':k', kb)
  end
end
flush()
if n > 0 then redis.call('INCR', base .. ':v') end
return n
"#;

/// Reads records through lexicographic ranges of the key set (`ARGV[1]` empty) or of an
/// index (`ARGV[1]` its name): `ARGV[2]` the most members to read (0: all), `ARGV[3]` `1` to
/// read backward (each range from its top; the caller lists the ranges top first), `ARGV[4]`
/// the range to start at, `ARGV[5]` the member to start after (empty: the range's start),
/// `ARGV[6]` `1` to first check that the index does not hold numbers of both numeric classes
/// (integers and doubles, tag 0x10, against decimals, tag 0x12: their encodings are classes
/// of their own, so such an index is not in sort order), `2` to check that and also that the
/// index holds an entry for every record (at least as many members as the key set: an index
/// declared after records were saved holds none for them until `rebuild_indexes`), `ARGV[7]`
/// `1` to answer with the head below (`0`: a read of everything at once whose caller needs no
/// version), then each range's low and high bound in `ZRANGEBYLEX` syntax.
/// Returns `{head, key, doc, key, doc, ...}` (doc nil when a record is missing), `head`
/// being the next range, the version and the last member read, in one string separated by
/// spaces (one part of the answer rather than three: each part costs the client a parse);
/// the next range is past the last when everything was read. A failed check returns `{-1}`
/// and reads nothing.
pub(crate) const READ: &str = r#"
local base, src = KEYS[1], ARGV[1]
local zkey = (src == '') and (base .. ':k') or (base .. ':i:' .. src)
local limit, rev, r, after = tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4]), ARGV[5]
if ARGV[6] == '2' and redis.call('ZCARD', zkey) < redis.call('ZCARD', base .. ':k') then return {-1} end
if ARGV[6] ~= '0' then
  local num = redis.call('ZRANGEBYLEX', zkey, '[' .. string.char(16), '(' .. string.char(17), 'LIMIT', 0, 1)
  local dec = redis.call('ZRANGEBYLEX', zkey, '[' .. string.char(18), '(' .. string.char(19), 'LIMIT', 0, 1)
  if #num > 0 and #dec > 0 then return {-1} end
end
local nr = (#ARGV - 7) / 2
local head = ARGV[7] == '1'
local version = head and (redis.call('GET', base .. ':v') or '0')
local out = {}
if head then out[1] = '' end
local left = limit
while r <= nr do
  local lo, hi = ARGV[6 + 2 * r], ARGV[7 + 2 * r]
  if after ~= '' then
    if rev then hi = '(' .. after else lo = '(' .. after end
  end
  local count = (limit > 0) and left or -1
  local ms
  if rev then ms = redis.call('ZREVRANGEBYLEX', zkey, hi, lo, 'LIMIT', 0, count)
  else ms = redis.call('ZRANGEBYLEX', zkey, lo, hi, 'LIMIT', 0, count) end
  for _, m in ipairs(ms) do
    local kb = m
    if src ~= '' then
      local l = struct.unpack('>I4', m, #m - 3)
      kb = string.sub(m, #m - 3 - l, #m - 4)
    end
    out[#out + 1] = kb
    out[#out + 1] = redis.call('GET', base .. ':r:' .. kb) or false
    after = m
  end
  if limit > 0 then
    left = left - #ms
    if left <= 0 then
      if head then out[1] = r .. ' ' .. version .. ' ' .. after end
      return out
    end
  end
  r = r + 1
  after = ''
end
if head then out[1] = r .. ' ' .. version .. ' ' end
return out
"#;

/// Counts the members of an index in lexicographic ranges. `KEYS[1]`: the base; `ARGV[1]`:
/// the index name; then each range's low and high bound in `ZRANGEBYLEX` syntax.
pub(crate) const COUNT: &str = r#"
local zkey = KEYS[1] .. ':i:' .. ARGV[1]
local n = 0
for r = 2, #ARGV, 2 do n = n + redis.call('ZLEXCOUNT', zkey, ARGV[r], ARGV[r + 1]) end
return n
"#;

/// Takes the next automatic key no record holds. `KEYS[1]`: the base. Returns the key bytes.
pub(crate) const AUTO: &str = r#"
local base = KEYS[1]
local kb
repeat
  local x = redis.call('INCR', base .. ':a')
  local t = {}
  for k = 8, 1, -1 do t[k] = x % 256; x = math.floor(x / 256) end
  t[1] = t[1] + 128
  kb = string.char(16, unpack(t))
until redis.call('EXISTS', base .. ':r:' .. kb) == 0
return kb
"#;

/// Removes index entries the record they name does not list (its entry list is what every
/// write keeps). `KEYS[1]`: the base; `ARGV[1]`: the index name; then members.
pub(crate) const PRUNE: &str = r#"
local base, ix = KEYS[1], ARGV[1]
local removed = 0
for k = 2, #ARGV do
  local m = ARGV[k]
  local l = struct.unpack('>I4', m, #m - 3)
  local kb = string.sub(m, #m - 3 - l, #m - 4)
  local keep = false
  for _, e in ipairs(parse(redis.call('GET', base .. ':e:' .. kb))) do
    if e[1] == ix and e[2] == m then keep = true end
  end
  if not keep then removed = removed + redis.call('ZREM', base .. ':i:' .. ix, m) end
end
return removed
"#;

/// Starts a new generation of counters, empty and not yet covering every record (the
/// rebuild then counts every record in it). `KEYS[1]`: the base; `ARGV`: grouping names.
/// Returns each new generation.
pub(crate) const RESTART: &str = r#"
local out = {}
for i, name in ipairs(ARGV) do
  local key = KEYS[1] .. ':n:' .. name
  local g = tonumber(redis.call('HGET', key, Z .. 'g') or '0') + 1
  redis.call('DEL', key)
  redis.call('HSET', key, Z .. 'g', g)
  out[i] = g
end
return out
"#;

/// Marks counters as covering every record, each if no other rebuild started a newer
/// generation meanwhile. `KEYS[1]`: the base; `ARGV`: grouping name and generation, per
/// counter. Returns how many groups the marked counters hold.
pub(crate) const BUILT: &str = r#"
local n = 0
for i = 1, #ARGV, 2 do
  local key = KEYS[1] .. ':n:' .. ARGV[i]
  if redis.call('HGET', key, Z .. 'g') == ARGV[i + 1] then
    redis.call('HSET', key, Z .. 'b', ARGV[i + 1])
    n = n + redis.call('HLEN', key) - 2
  end
end
return n
"#;

/// A script's full text and its SHA-1, for `EVALSHA`.
pub(crate) struct Script {
    pub(crate) text: String,
    pub(crate) sha: String,
}

impl Script {
    fn new(body: &str) -> Script {
        let text = format!("{COMMON}{body}");
        let sha = redis::Script::new(&text).get_hash().to_owned();
        Script { text, sha }
    }
}

/// The scripts, hashed once.
pub(crate) struct Scripts {
    pub(crate) write: Script,
    pub(crate) delete: Script,
    pub(crate) read: Script,
    pub(crate) auto: Script,
    pub(crate) prune: Script,
    pub(crate) count: Script,
    pub(crate) restart: Script,
    pub(crate) built: Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        Scripts {
            write: Script::new(WRITE),
            delete: Script::new(DELETE),
            read: Script::new(READ),
            auto: Script::new(AUTO),
            prune: Script::new(PRUNE),
            count: Script::new(COUNT),
            restart: Script::new(RESTART),
            built: Script::new(BUILT),
        }
    }
}
