//! The idempotency store: same key and body, the stored answer; another body, 422; in flight,
//! 409.

use std::collections::HashMap;

/// What a key holds.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    InFlight {
        fingerprint: Vec<u8>,
    },
    Done {
        fingerprint: Vec<u8>,
        status: u16,
        body: Vec<u8>,
    },
}

/// What to do with a request carrying a key.
pub(crate) enum Lookup {
    /// First time: taken, in flight now.
    Fresh,
    /// The stored answer.
    Replay { status: u16, body: Vec<u8> },
    /// Another body under the same key.
    Reused,
    /// The first request is still being handled.
    InFlight,
}

#[derive(Debug, Default)]
pub(crate) struct IdempotencyStore {
    entries: HashMap<String, Entry>,
}

impl IdempotencyStore {
    pub(crate) fn begin(&mut self, key: &str, fingerprint: Vec<u8>) -> Lookup {
        match self.entries.get(key) {
            None => {
                self.entries
                    .insert(key.to_owned(), Entry::InFlight { fingerprint });
                Lookup::Fresh
            }
            Some(Entry::InFlight { fingerprint: held }) => {
                if *held == fingerprint {
                    Lookup::InFlight
                } else {
                    Lookup::Reused
                }
            }
            Some(Entry::Done {
                fingerprint: held,
                status,
                body,
            }) => {
                if *held == fingerprint {
                    Lookup::Replay {
                        status: *status,
                        body: body.clone(),
                    }
                } else {
                    Lookup::Reused
                }
            }
        }
    }

    pub(crate) fn finish(&mut self, key: &str, status: u16, body: Vec<u8>) {
        if let Some(Entry::InFlight { fingerprint }) = self.entries.remove(key) {
            if status >= 500 {
                // A server error is not an answer worth keeping: the retry runs again.
                return;
            }
            self.entries.insert(
                key.to_owned(),
                Entry::Done {
                    fingerprint,
                    status,
                    body,
                },
            );
        }
    }

    /// The handler was dropped before finishing (the client went away): nothing was applied.
    pub(crate) fn abandon(&mut self, key: &str) {
        if matches!(self.entries.get(key), Some(Entry::InFlight { .. })) {
            self.entries.remove(key);
        }
    }
}
