//! `martingale keys add|list|rm|test`: users' API keys, sealed in the
//! database with the operator's master key. Secrets are read from stdin or
//! a file, never from the command line (which other users of the machine
//! can read in `ps`), and never printed.

use std::io::Read;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use martingale_core::venue::Venue;
use martingale_exchange::{connect, Credentials, MasterKey, Secret, VenueOptions, MASTER_KEY_ENV};
use martingale_service::keys::{self, Keyring};
use martingale_service::Db;
use zeroize::Zeroizing;

use super::line;

/// The master key file's name in the data folder.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Where the master key comes from.
#[derive(Args, Clone)]
pub struct MasterKeyArgs {
    /// File holding the master key (32 bytes, base64 or hex); default:
    /// $MARTINGALE_MASTER_KEY, else DATA/master.key.
    #[arg(long, global = true)]
    pub master_key_file: Option<PathBuf>,
}

/// Venue address overrides (a proxy, a testnet, a test server).
#[derive(Args, Clone, Default)]
pub struct VenueUrls {
    /// `VENUE=URL`, e.g. `binance=https://testnet.binance.vision` (repeatable).
    #[arg(long = "venue-url", value_name = "VENUE=URL")]
    pub urls: Vec<String>,
}

impl VenueUrls {
    /// The options for `venue`.
    pub fn options(&self, venue: Venue) -> Result<VenueOptions, String> {
        let mut opts = VenueOptions::default();
        for u in &self.urls {
            let (name, url) = u.split_once('=').ok_or_else(|| format!("--venue-url {u:?}: expected VENUE=URL"))?;
            let v: Venue = name.parse().map_err(|e| format!("--venue-url {u:?}: {e}"))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("--venue-url {u:?}: the URL must start with http:// or https://"));
            }
            if v == venue {
                opts.base_url = Some(url.trim_end_matches('/').to_string());
            }
        }
        Ok(opts)
    }
}

/// `keys` subcommands.
#[derive(Subcommand)]
pub enum KeysCmd {
    /// Stores a key pair (replacing one of the same label). Reads the API
    /// key, the secret and, for OKX, the passphrase, one per line, from
    /// stdin or --from FILE.
    Add {
        /// The key's label (1 to 64 characters of [A-Za-z0-9_-]).
        label: String,
        /// The owning user.
        #[arg(long)]
        user: String,
        /// The venue: binance, bybit, okx or coindcx.
        #[arg(long)]
        venue: String,
        /// Read the lines from this file instead of stdin.
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Lists a user's keys (labels and venues, never the keys).
    List {
        /// The owning user.
        #[arg(long)]
        user: String,
    },
    /// Deletes a key (--force: even if a bot trades with it).
    Rm {
        /// The key's label.
        label: String,
        /// The owning user.
        #[arg(long)]
        user: String,
        /// Delete it even if bots use it.
        #[arg(long)]
        force: bool,
    },
    /// Checks a key against its venue with a balance call.
    Test {
        /// The key's label.
        label: String,
        /// The owning user.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        urls: VenueUrls,
    },
}

/// The master key: $MARTINGALE_MASTER_KEY, else the file given, else
/// `data/master.key`. With `create`, a missing default file is created
/// (0600) with a fresh random key, and the operator is told to back it up.
pub fn master_key(args: &MasterKeyArgs, data: &Path, create: bool) -> Result<MasterKey, String> {
    if std::env::var_os(MASTER_KEY_ENV).is_some() {
        return MasterKey::from_env().map_err(|e| format!("{MASTER_KEY_ENV}: {e}"));
    }
    if let Some(f) = &args.master_key_file {
        return MasterKey::from_file(f).map_err(|e| e.to_string());
    }
    let default = data.join(MASTER_KEY_FILE);
    if default.exists() {
        return MasterKey::from_file(&default).map_err(|e| e.to_string());
    }
    if !create {
        return Err(format!(
            "no master key: set {MASTER_KEY_ENV}, or --master-key-file, or keep it in {} (`martingale keys add` \
             creates it)",
            default.display()
        ));
    }
    let key = MasterKey::generate();
    write_private(&default, key.to_base64().expose().as_bytes())
        .map_err(|e| format!("cannot create the master key file {}: {e}", default.display()))?;
    eprintln!(
        "created the master key file {} (keep it safe and back it up: the stored keys cannot be read without it)",
        default.display()
    );
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Reads `api key`, `secret` and an optional passphrase, one per line.
fn read_credentials(from: Option<&Path>) -> Result<Credentials, String> {
    let mut text = Zeroizing::new(String::new());
    match from {
        Some(p) => {
            std::fs::File::open(p)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map_err(|e| format!("--from {}: {e}", p.display()))?;
        }
        None => {
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("stdin: {e}"))?;
        }
    }
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let (Some(key), Some(secret)) = (lines.next(), lines.next()) else {
        return Err("expected the API key and the secret, one per line (and the passphrase for OKX)".into());
    };
    let passphrase = lines.next().map(Secret::new);
    if lines.next().is_some() {
        return Err("expected at most three lines: API key, secret, passphrase".into());
    }
    Ok(Credentials { api_key: Secret::new(key), secret_key: Secret::new(secret), passphrase })
}

/// Runs a `keys` subcommand.
pub async fn run(db: &Db, cmd: KeysCmd, master: &MasterKeyArgs, data: &Path, out: &mut Vec<u8>) -> Result<(), String> {
    let e = |e: martingale_service::ServiceError| e.to_string();
    match cmd {
        KeysCmd::Add { label, user, venue, from } => {
            let venue: Venue = venue.parse().map_err(|err| format!("--venue: {err}"))?;
            let creds = read_credentials(from.as_deref())?;
            if venue == Venue::Okx && creds.passphrase.is_none() {
                return Err("an OKX key needs its passphrase as a third line".into());
            }
            // Everything is checked before a master key file is created.
            martingale_service::users::get(db, &user).await.map_err(e)?;
            martingale_exchange::KeyLabel::new(label.as_str()).map_err(|err| err.to_string())?;
            let ring = Keyring::open(db, &master_key(master, data, true)?).await.map_err(e)?;
            let info = ring.put(&user, &label, venue, &creds).await.map_err(e)?;
            line(out, format!("stored key {} of {} for {:?} (version {})", info.label, user, venue, info.version));
        }
        KeysCmd::List { user } => {
            line(out, format!("{:<24} {:<8} {:>7} {:>14}", "key", "venue", "version", "updated"));
            for k in keys::list(db, &user).await.map_err(e)? {
                let venue = format!("{:?}", k.venue).to_lowercase();
                line(out, format!("{:<24} {:<8} {:>7} {:>14}", k.label, venue, k.version, k.updated_at));
            }
        }
        KeysCmd::Rm { label, user, force } => {
            keys::remove(db, &user, &label, force).await.map_err(e)?;
            line(out, format!("removed key {label} of {user}"));
        }
        KeysCmd::Test { label, user, urls } => {
            let ring = Keyring::open(db, &master_key(master, data, false)?).await.map_err(e)?;
            let (venue, creds) = ring.load(&user, &label).await.map_err(e)?;
            let opts = urls.options(venue)?;
            let name = format!("{venue:?}").to_lowercase();
            let exchange = connect(venue, Some(creds), None, &opts).map_err(|err| format!("{name}: {err}"))?;
            let balances = exchange.balances().await.map_err(|err| format!("key {label} refused by {name}: {err}"))?;
            let held: Vec<String> = balances
                .iter()
                .filter(|b| !(b.free + b.locked).is_zero())
                .map(|b| format!("{} {}", b.asset, (b.free + b.locked).normalize()))
                .collect();
            line(out, format!("key {label} works on {name}: {} asset(s) held: {}", held.len(), held.join(", ")));
        }
    }
    Ok(())
}
