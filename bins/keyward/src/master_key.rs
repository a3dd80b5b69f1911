//! The master key that encrypts signing keys at rest: from `keys.master_key`, or a file
//! `<data_dir>/master.key` generated with mode 0600 on first start.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use keyward_core::keys::MasterKey;

use crate::settings::Settings;

/// Creates the data directory (mode 0700) if it does not exist.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// The configured master key, or the one in the data directory (created if absent).
pub fn load_or_create(settings: &Settings) -> anyhow::Result<MasterKey> {
    if let Some(text) = &settings.keys.master_key {
        return MasterKey::from_base64(text).map_err(|e| anyhow::anyhow!("keys.master_key: {e}"));
    }
    let path = settings.data_dir.join("master.key");
    if path.exists() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return MasterKey::from_base64(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = MasterKey::generate(&mut rand_core::OsRng);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", key.to_base64())?;
    file.sync_all()?;
    log::info!("generated a master key in {}", path.display());
    Ok(key)
}
