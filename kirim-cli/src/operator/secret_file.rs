//! Writing a secret to a file only its owner can read.

use std::io::Write;
use std::path::Path;

use super::failure::Failure;

/// Writes `value` and a newline to `path`, created with mode 0600 (or made 0600 if it
/// existed), replacing what it held.
pub(crate) fn write_secret(path: &Path, value: &str) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::local(format!("cannot write the secret to {}", path.display()), e)
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path).map_err(fail)?;
        // An existing file keeps its mode on open: narrow it before writing.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        file.write_all(value.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(fail)
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path).map_err(fail)?;
        file.write_all(value.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .map_err(fail)
    }
}
