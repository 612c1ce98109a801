//! The values the store writes, and the two Lua scripts that settle a claim: each touches one
//! key (so Redis Cluster routes it to one node) and runs atomically on the server, so settling
//! is one round trip. Claiming needs no script (`SET … NX GET`, in `store.rs`).
//!
//! Values: `p:<token>` while a claim is in progress (with the lease as its TTL), `d` once
//! completed (with the retention as its TTL). `GET` goes through `redis.pcall` so that a key of
//! another type answers "unexpected value" instead of a script error.

use std::sync::LazyLock;

use redis::Script;

/// Prefix of an in-progress value; the claim token follows.
pub(crate) const IN_PROGRESS: &str = "p:";

/// The value of a completed key.
pub(crate) const DONE: &str = "d";

/// `KEYS[1]` the key, `ARGV[1]` the in-progress value, `ARGV[2]` the retention in ms.
/// Returns 1 applied, 0 stale, -1 unexpected.
pub(crate) static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local v = redis.pcall('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('SET', KEYS[1], 'd', 'PX', ARGV[2])
  return 1
end
if type(v) == 'table' then return -1 end
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
if v == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if type(v) == 'table' then return -1 end
if not v or v == 'd' or string.sub(v, 1, 2) == 'p:' then return 0 end
return -1
",
    )
});
