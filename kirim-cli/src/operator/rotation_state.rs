//! The state file of `rotate`: which step a rotation reached and the idempotency key of its
//! step 1, so a rerun continues the same rotation. It never holds a secret.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::failure::Failure;

/// The step a rotation has completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    /// The idempotency key is chosen; the new secret may or may not be minted yet.
    Minting,
    /// The new secret exists (step 1 done).
    Minted,
    /// Deliveries were seen verifying with it (step 3 done).
    Confirmed,
}

/// What the state file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RotationState {
    /// The format; 1.
    pub(crate) version: u32,
    pub(crate) subscription_id: String,
    /// The `Idempotency-Key` of step 1's `POST …/secrets`.
    pub(crate) idempotency_key: String,
    /// The `expires_in_hours` step 1 sent: a rerun must send the same body with that key.
    pub(crate) expires_in_hours: Option<u32>,
    /// When step 1 was first sent (unix seconds): Kirim keeps a key 24 h.
    pub(crate) started_unix: i64,
    pub(crate) step: Step,
    /// The secrets the subscription had before the rotation: the ones to delete.
    pub(crate) old_secret_ids: Vec<String>,
    pub(crate) new_secret_id: Option<String>,
    /// Old secrets already deleted.
    #[serde(default)]
    pub(crate) deleted: Vec<String>,
}

/// `./kirim-rotate-<subscription>.json`.
pub(crate) fn default_path(subscription_id: &str) -> PathBuf {
    PathBuf::from(format!("kirim-rotate-{subscription_id}.json"))
}

pub(crate) fn load(path: &Path) -> Result<Option<RotationState>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Failure::local(
                format!("the state file {} is not readable", path.display()),
                e,
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::local(
            format!("cannot read the state file {}", path.display()),
            e,
        )),
    }
}

/// Writes the state atomically (a temporary file renamed over it), so an interruption leaves
/// the old state or the new one, never half of one.
pub(crate) fn save(path: &Path, state: &RotationState) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::local(format!("cannot write the state file {}", path.display()), e)
    };
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Failure::local("cannot encode the state", e))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temporary).map_err(fail)?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(fail)?;
    }
    std::fs::rename(&temporary, path).map_err(fail)
}

pub(crate) fn remove(path: &Path) -> Result<(), Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Failure::local(
            format!("cannot remove the state file {}", path.display()),
            e,
        )),
    }
}
