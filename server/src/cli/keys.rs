//! Key files: a private key as 64 hex characters and a newline, readable by
//! the owner only. Used for the node key (`<data dir>/node.key`) and the
//! author key of the command-line user (`hoffnung key`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hoffnung_core::KeyPair;

/// The author key file: `--key-file`, `HOFFNUNG_KEY_FILE`, else
/// `$XDG_CONFIG_HOME/hoffnung/author.key`.
pub fn author_key_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOFFNUNG_KEY_FILE").map(PathBuf::from))
        .unwrap_or_else(|| super::config::config_dir().join("author.key"))
}

/// Writes `key` to `path` with owner-only permissions; refuses to replace
/// an existing file unless `force`. The key is on disk when this returns:
/// a node must not come back from a power loss with another identity, nor
/// with an empty key file.
pub fn write_key(path: &Path, key: &KeyPair, force: bool) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        super::durable::create_dir(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to replace it (its key is lost then)",
            path.display()
        );
    }
    super::durable::write_file(
        path,
        format!("{}\n", key.private_key_hex()).as_bytes(),
        0o600,
    )
    .with_context(|| format!("writing key file {}", path.display()))?;
    Ok(())
}

/// Reads a key file written by [`write_key`].
pub fn read_key(path: &Path) -> anyhow::Result<KeyPair> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading key file {} (create one with `hoffnung key new`)",
            path.display()
        )
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                "key file is readable by others (mode {:o}); chmod 600 it",
                mode & 0o777
            );
        }
    }
    KeyPair::from_private_key_hex(text.trim())
        .with_context(|| format!("{} does not hold a private key", path.display()))
}

/// The node key in `data_dir`, generated on first start.
pub fn node_key(data_dir: &Path) -> anyhow::Result<(KeyPair, bool)> {
    let path = data_dir.join("node.key");
    if path.exists() {
        return Ok((read_key(&path)?, false));
    }
    let key = KeyPair::generate();
    write_key(&path, &key, false)?;
    Ok((key, true))
}
