//! Persistence of engine snapshots, and the ownership of a bot's state.
//!
//! [`JsonFileStore`] keeps one file per bot, `<dir>/<bot>.json`, written
//! atomically: the new state goes to a temporary file of its own (unique
//! name: process id and a counter, created exclusively, mode 0600) in the
//! same directory, is flushed to disk (`fsync`), renamed over the old file,
//! and the directory is synced, so a crash leaves either the old or the new
//! state, never a torn one, and two writers never share a temporary file.
//!
//! Ownership: a runner takes a [`Lease`] on its bot from the store
//! ([`StateStore::acquire`]) before it reads the state, and holds it for its
//! lifetime. [`JsonFileStore`] implements the lease as an exclusive OS file
//! lock on `<dir>/<bot>.lock` (`flock` on Unix): a second runner of the same
//! bot on the same folder, in this process or another, is refused with
//! [`LeaseError::Held`], which names the bot and the lock file. The lock
//! dies with the process, so a crash never leaves a stale lease. A database
//! store implements the same trait method with a row lease.
//!
//! Files are created 0600 and the folder 0700 (Unix); a state folder that
//! is a symbolic link is refused ([`JsonFileStore::new`]), so the state is
//! never written through a link to somewhere else.
//!
//! Limits: file locks are advisory and, on network file systems, only as
//! good as the file system's `flock`.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use martingale_core::engine::BotId;

use crate::audit::AuditRecord;
use thiserror::Error;

/// Why a bot's lease could not be taken.
#[derive(Debug, Error)]
pub enum LeaseError {
    /// Another runner (this process or another one) holds the bot.
    #[error(
        "bot {bot} is already running: its lock {} is held by another runner; stop that runner first \
         (two runners on one bot would place every order twice)",
        lock.display()
    )]
    Held {
        /// The bot.
        bot: BotId,
        /// The lock file.
        lock: PathBuf,
    },
    /// The lock file could not be opened or locked.
    #[error("bot {bot}: cannot lock {}: {error}", lock.display())]
    Io {
        /// The bot.
        bot: BotId,
        /// The lock file.
        lock: PathBuf,
        /// The error.
        error: io::Error,
    },
}

/// Exclusive ownership of one bot's state, held while a runner runs it and
/// released when dropped (see the module docs).
pub struct Lease {
    bot: BotId,
    what: String,
    _held: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("bot", &self.bot).field("what", &self.what).finish()
    }
}

impl Lease {
    /// A lease backed by `held` (a lock guard, a database lease, ...),
    /// released when the lease is dropped; `what` describes it for logs.
    pub fn new(bot: BotId, what: impl Into<String>, held: Box<dyn Send + Sync>) -> Lease {
        Lease { bot, what: what.into(), _held: Some(held) }
    }

    /// A lease that excludes nobody: for stores private to one runner
    /// (in-memory stores of tests and simulations).
    pub fn unshared(bot: BotId) -> Lease {
        Lease { bot, what: "unshared store".into(), _held: None }
    }

    /// The bot.
    pub fn bot(&self) -> &BotId {
        &self.bot
    }

    /// What backs the lease (the lock file, ...).
    pub fn describe(&self) -> &str {
        &self.what
    }
}

/// Where engine snapshots live.
///
/// The interface is async: an implementation must not block the runtime's
/// threads (the file store does its file work on tokio's blocking pool, a
/// database store awaits its driver).
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The last saved state of `bot`, if any.
    async fn load(&self, bot: &BotId) -> io::Result<Option<String>>;
    /// Saves the state of `bot`, replacing the previous one atomically.
    async fn save(&self, bot: &BotId, state: &str) -> io::Result<()>;
    /// Saves the state of `bot` together with the audit records written
    /// since the last save (the events that led to it, the actions about
    /// to be sent, notes), all or nothing. Called instead of
    /// [`StateStore::save`] when [`StateStore::keeps_audit`] is true; the
    /// default saves the state alone.
    async fn save_with_audit(&self, bot: &BotId, state: &str, audit: &[AuditRecord]) -> io::Result<()> {
        let _ = audit;
        self.save(bot, state).await
    }
    /// True when the store keeps the audit trail itself, in the same
    /// atomic write as the state (the service's database); the runner then
    /// hands it every audit record (an `AuditLog` file, if one is set too,
    /// still gets them).
    fn keeps_audit(&self) -> bool {
        false
    }
    /// Takes exclusive ownership of `bot` for as long as the lease lives.
    /// The default suits a store no other runner can reach (in memory);
    /// a shared store must override it.
    async fn acquire(&self, bot: &BotId) -> Result<Lease, LeaseError> {
        Ok(Lease::unshared(bot.clone()))
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| io::Error::other(format!("state file task failed: {e}")))
}

/// One JSON file per bot in a directory.
///
/// ```
/// use martingale_exchange::{JsonFileStore, StateStore};
/// use martingale_core::engine::BotId;
/// let dir = tempfile::tempdir().unwrap();
/// let store = JsonFileStore::new(dir.path()).unwrap();
/// let bot = BotId::new("b1").unwrap();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let lease = store.acquire(&bot).await.unwrap();
/// assert!(store.acquire(&bot).await.is_err(), "one runner per bot");
/// assert_eq!(store.load(&bot).await.unwrap(), None);
/// store.save(&bot, "{\"v\":1}").await.unwrap();
/// assert_eq!(store.load(&bot).await.unwrap().as_deref(), Some("{\"v\":1}"));
/// drop(lease);
/// assert!(store.acquire(&bot).await.is_ok());
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct JsonFileStore {
    dir: PathBuf,
    sync: bool,
    /// Per state file, the sequence number of the last save written: a save
    /// whose caller gave up (a step timeout drops the future, not the
    /// blocking write) never lands after a newer one.
    written: Arc<Mutex<HashMap<PathBuf, Arc<Mutex<u64>>>>>,
    next: Arc<AtomicU64>,
}

/// Creates `dir` (mode 0700 on Unix) if missing; refuses a symbolic link.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symbolic link; refusing to write through it (use the real folder)", dir.display()),
            ))
        }
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{} is not a folder", dir.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Opens a new file for writing, exclusively, mode 0600 on Unix.
pub(crate) fn private_file(path: &Path, append: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    if append {
        opts.append(true).create(true);
    } else {
        opts.write(true).create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: a uniquely named temporary file in
/// the same folder (0600), fsync (if `sync`), rename, folder fsync.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()));
    let written = (|| {
        let mut f = private_file(&tmp, false)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    if sync {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl JsonFileStore {
    /// A store in `dir` (created 0700 if missing; a symbolic link is refused).
    pub fn new(dir: impl AsRef<Path>) -> io::Result<JsonFileStore> {
        private_dir(dir.as_ref())?;
        Ok(JsonFileStore { dir: dir.as_ref().to_path_buf(), sync: true, written: Arc::default(), next: Arc::default() })
    }

    /// A store that still replaces files atomically (a killed process
    /// leaves the old or the new state) but skips `fsync`, so a power loss
    /// may lose the last states: for paper trading and simulations, where
    /// the fsync per change would dominate the run time.
    pub fn without_sync(dir: impl AsRef<Path>) -> io::Result<JsonFileStore> {
        Ok(JsonFileStore { sync: false, ..JsonFileStore::new(dir)? })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, bot: &BotId) -> PathBuf {
        // Bot ids are [A-Za-z0-9_-]{1,15}: safe as file names.
        self.dir.join(format!("{}.json", bot.as_str()))
    }

    /// The lock file of `bot`.
    pub fn lock_path(&self, bot: &BotId) -> PathBuf {
        self.dir.join(format!("{}.lock", bot.as_str()))
    }
}

#[async_trait]
impl StateStore for JsonFileStore {
    async fn load(&self, bot: &BotId) -> io::Result<Option<String>> {
        let path = self.path(bot);
        blocking(move || read_state(&path)).await?
    }

    async fn save(&self, bot: &BotId, state: &str) -> io::Result<()> {
        let (path, text, sync) = (self.path(bot), state.as_bytes().to_vec(), self.sync);
        let seq = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = {
            let mut map = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry(path.clone()).or_default().clone()
        };
        blocking(move || {
            // One write per file at a time, newest wins.
            let mut last = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if *last > seq {
                return Ok(()); // a newer state is already on disk
            }
            write_atomic(&path, &text, sync)?;
            *last = seq;
            Ok(())
        })
        .await?
    }

    async fn acquire(&self, bot: &BotId) -> Result<Lease, LeaseError> {
        let lock = self.lock_path(bot);
        let (b, l) = (bot.clone(), lock.clone());
        blocking(move || lock_bot(b, l))
            .await
            .unwrap_or_else(|error| Err(LeaseError::Io { bot: bot.clone(), lock, error }))
    }
}

/// A bot's state file: `None` when there is none; a link is refused.
fn read_state(path: &Path) -> io::Result<Option<String>> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is a symbolic link; refusing to read state through it", path.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        _ => {}
    }
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes the OS lock of a bot's lock file (see the module docs).
fn lock_bot(bot: BotId, lock: PathBuf) -> Result<Lease, LeaseError> {
    let io_err = |error| LeaseError::Io { bot: bot.clone(), lock: lock.clone(), error };
    let file = match private_file(&lock, true) {
        Ok(f) => f,
        Err(e) => return Err(io_err(e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Lease::new(bot.clone(), format!("lock {}", lock.display()), Box::new(file))),
        Err(fs::TryLockError::WouldBlock) => Err(LeaseError::Held { bot, lock }),
        Err(fs::TryLockError::Error(e)) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn save_replaces_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFileStore::new(dir.path().join("states")).unwrap();
        let bot = BotId::new("bot-1").unwrap();
        for i in 0..20 {
            store.save(&bot, &format!("{{\"n\":{i}}}")).await.unwrap();
        }
        assert_eq!(store.load(&bot).await.unwrap().as_deref(), Some("{\"n\":19}"));
        let names: Vec<_> = fs::read_dir(dir.path().join("states")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("bot-1.json")]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_saves_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFileStore::without_sync(dir.path()).unwrap();
        let bot = BotId::new("b").unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|t| {
                let (store, bot) = (store.clone(), bot.clone());
                tokio::spawn(async move {
                    for i in 0..200 {
                        store.save(&bot, &format!("{{\"t\":{t},\"i\":{i}}}")).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let text = store.load(&bot).await.unwrap().unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["i"], 199, "{text}");
    }

    /// A save whose caller gave up (a step timeout) still writes on the
    /// blocking pool, but never over a newer state.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_save_never_lands_after_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFileStore::new(dir.path()).unwrap();
        let bot = BotId::new("b").unwrap();
        for round in 0..20 {
            let old = format!("{{\"old\":{round}}}");
            let _ = tokio::time::timeout(std::time::Duration::ZERO, store.save(&bot, &old)).await;
            let new = format!("{{\"new\":{round}}}");
            store.save(&bot, &new).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            assert_eq!(store.load(&bot).await.unwrap().as_deref(), Some(new.as_str()));
        }
    }

    #[tokio::test]
    async fn the_lease_names_the_bot_and_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFileStore::new(dir.path()).unwrap();
        let bot = BotId::new("b7").unwrap();
        let _lease = store.acquire(&bot).await.unwrap();
        // Another store on the same folder (another process opens its own).
        let other = JsonFileStore::new(dir.path()).unwrap();
        let err = other.acquire(&bot).await.unwrap_err().to_string();
        assert!(err.contains("bot b7") && err.contains("b7.lock"), "{err}");
        // Other bots are free.
        assert!(other.acquire(&BotId::new("b8").unwrap()).await.is_ok());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn files_are_private_and_symlinked_folders_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let states = dir.path().join("states");
        let store = JsonFileStore::new(&states).unwrap();
        let bot = BotId::new("b").unwrap();
        store.save(&bot, "{}").await.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&states), 0o700);
        assert_eq!(mode(&states.join("b.json")), 0o600);
        let _ = store.acquire(&bot).await.unwrap();
        assert_eq!(mode(&states.join("b.lock")), 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&states, &link).unwrap();
        let err = JsonFileStore::new(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
