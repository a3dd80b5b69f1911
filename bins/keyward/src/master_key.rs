//! The data directory and what start-up keeps in it: the master key that encrypts
//! signing keys at rest (from `keys.master_key`, or a file `<data_dir>/master.key`
//! generated with mode 0600 on first start), the start-up lock `keyward.lock` that
//! serialises first-start work across processes, and the `instance` marker that says the
//! directory already held an initialised Keyward instance.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keyward_core::keys::MasterKey;
use rand_core::RngCore;

use crate::settings::Settings;

/// How long a start waits for another keyward process's start-up work.
const LOCK_WAIT: Duration = Duration::from_secs(120);

/// Creates the data directory (mode 0700) if it does not exist. An existing one that
/// group or others may write to is refused (files in it may have been planted or
/// swapped); one they may only read or traverse is narrowed to 0700 with a warning (the
/// files in it are 0600 anyway), or refused when it cannot be narrowed.
pub fn ensure_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        #[cfg(unix)]
        {
            // The umask may have narrowed the mode further; 0700 is what we need.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting the mode of {}", dir.display()))?;
        }
        return Ok(());
    }
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("the data directory {} is not a directory", dir.display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o022 != 0 {
            bail!(
                "the data directory {} is writable by group or others (mode {mode:o}); \
                 it holds the database and the master key: check its contents, then run \
                 `chmod 700 {}`",
                dir.display(),
                dir.display()
            );
        }
        if mode & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                anyhow::anyhow!(
                    "the data directory {} is accessible by group or others (mode {mode:o}) \
                     and cannot be narrowed ({e}); run `chmod 700 {}`",
                    dir.display(),
                    dir.display()
                )
            })?;
            log::warn!(
                "the data directory {} was accessible by group or others (mode {mode:o}); \
                 set it to 0700",
                dir.display()
            );
        }
    }
    Ok(())
}

/// An exclusive lock on `<data_dir>/keyward.lock`, held while a process does start-up
/// work (migrations, the WAL switch, signing-key generation, bootstrap) or a CLI task,
/// so two processes starting at once on one data directory never do it twice. Released
/// on drop (and by the kernel when the process dies). The file itself stays.
pub struct StartLock {
    _file: fs::File,
}

impl StartLock {
    /// Takes the lock, waiting (bounded) while another keyward process holds it.
    pub fn acquire(dir: &Path) -> anyhow::Result<StartLock> {
        let path = dir.join("keyward.lock");
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let deadline = Instant::now() + LOCK_WAIT;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StartLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if !told {
                        log::info!(
                            "waiting for {}: another keyward process is starting or \
                             running a command on this data directory",
                            path.display()
                        );
                        told = true;
                    }
                    if Instant::now() >= deadline {
                        bail!(
                            "{} is still held by another keyward process after {} s",
                            path.display(),
                            LOCK_WAIT.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
        }
    }
}

fn master_key_path(settings: &Settings) -> PathBuf {
    settings.data_dir.join("master.key")
}

/// The configured master key, or the one in `<data_dir>/master.key` after checking its
/// mode (0600 or narrower) and format; `None` when neither exists yet. Call it before
/// creating or migrating anything, so a bad key stops the start with nothing changed.
pub fn load(settings: &Settings) -> anyhow::Result<Option<MasterKey>> {
    if let Some(text) = &settings.keys.master_key {
        return MasterKey::from_base64(text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("keys.master_key: {e}"));
    }
    let path = master_key_path(settings);
    if !path.exists() {
        return Ok(None);
    }
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
    let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::from_base64(&text)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Generates a master key into `<data_dir>/master.key` (mode 0600): written to a
/// temporary file, synced, then renamed, so a crash never leaves a truncated key.
/// Call it with the [`StartLock`] held.
pub fn create(settings: &Settings) -> anyhow::Result<MasterKey> {
    let path = master_key_path(settings);
    let tmp = settings.data_dir.join("master.key.tmp");
    let key = MasterKey::generate(&mut rand_core::OsRng);
    write_private(&tmp, &format!("{}\n", key.to_base64()))?;
    fs::rename(&tmp, &path).with_context(|| format!("creating {}", path.display()))?;
    sync_dir(&settings.data_dir);
    log::info!("generated a master key in {}", path.display());
    Ok(key)
}

/// Writes `text` to a new file with mode 0600 (replacing a leftover one) and syncs it.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let _ = fs::remove_file(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Makes a new directory entry durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn marker_path(dir: &Path) -> PathBuf {
    dir.join("instance")
}

/// What in the data directory shows that it already held a Keyward instance: the
/// `instance` marker (written once an instance is initialised) or a `master.key` file
/// (generated on the first start, before the marker existed in older builds).
pub fn previous_instance(settings: &Settings) -> Option<PathBuf> {
    [marker_path(&settings.data_dir), master_key_path(settings)]
        .into_iter()
        .find(|p| p.exists())
}

/// Writes the `instance` marker (mode 0600, a random instance ID) unless it exists.
/// Call it with the [`StartLock`] held, once the database holds an initialised instance.
pub fn mark_instance(dir: &Path) -> anyhow::Result<()> {
    let path = marker_path(dir);
    if path.exists() {
        return Ok(());
    }
    let mut id = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut id);
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let text = format!(
        "# A Keyward instance lives in this directory; keyward refuses to start a new,\n\
         # empty one here (see --allow-empty-database).\n\
         instance {hex}\ncreated {}\n",
        chrono::Utc::now().to_rfc3339()
    );
    let tmp = dir.join("instance.tmp");
    write_private(&tmp, &text)?;
    fs::rename(&tmp, &path).with_context(|| format!("creating {}", path.display()))?;
    sync_dir(dir);
    Ok(())
}
