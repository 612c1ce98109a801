//! The three Lua scripts: each touches one key (so Redis Cluster routes it to one node) and runs
//! atomically on the server, so every store operation is one round trip.
//!
//! Values: `p:<token>` while a claim is in progress (with the lease as its TTL), `d` once
//! completed (with the retention as its TTL). `GET` goes through `redis.pcall` so that a key of
//! another type answers "unexpected value" instead of a script error.

use std::sync::LazyLock;

use redis::Script;

/// Prefix of an in-progress value; the claim token follows.
pub(crate) const IN_PROGRESS: &str = "p:";

/// `KEYS[1]` the key, `ARGV[1]` the in-progress value, `ARGV[2]` the lease in ms.
/// Returns `{1, 0}` acquired, `{2, 0}` done, `{3, pttl}` in progress, `{0, 0}` unexpected.
pub(crate) static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return {0, 0} end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, 0}
end
if v == 'd' then return {2, 0} end
if string.sub(v, 1, 2) == 'p:' then return {3, redis.call('PTTL', KEYS[1])} end
return {0, 0}
",
    )
});

/// `KEYS[1]` the key, `ARGV[1]` the in-progress value, `ARGV[2]` the retention in ms.
/// Returns 1 applied, 0 stale, -1 unexpected.
pub(crate) static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return -1 end
if v == ARGV[1] then
  redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
  return 1
end
if not v or v == 'd' or string.sub(v, 1, 2) == 'p:' then return 0 end
return -1
",
    )
});

/// `KEYS[1]` the key, `ARGV[1]` the in-progress value.
/// Returns 1 applied, 0 stale, -1 unexpected.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if type(v) == 'table' then return -1 end
if v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if not v or v == 'd' or string.sub(v, 1, 2) == 'p:' then return 0 end
return -1
",
    )
});
