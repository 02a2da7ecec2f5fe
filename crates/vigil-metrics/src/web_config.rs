//! The exporter web configuration, in the format Prometheus exporters
//! share (exporter-toolkit's `--web.config.file`):
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/vigil/tls.crt
//!   key_file: /etc/vigil/tls.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional
//!   client_ca_file: /etc/vigil/ca.crt              # with the above
//!   min_version: TLS12                             # optional
//! basic_auth_users:
//!   prometheus: $2y$10$...                         # bcrypt hash
//! ```
//!
//! Every error names the file and the key that is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
    /// Accepted for compatibility; HTTP/2 and headers are not configurable.
    #[allow(dead_code)]
    http_server_config: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

/// A checked web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// user -> bcrypt hash
    pub users: BTreeMap<String, String>,
    /// Credentials that passed bcrypt, as SHA-256 of "user:password":
    /// Prometheus sends the same ones every scrape, and bcrypt is slow on
    /// purpose.
    verified: Arc<std::sync::Mutex<std::collections::HashSet<[u8; 32]>>>,
}

/// One bcrypt check at a time: wrong passwords cannot take every core.
static BCRYPT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Checked for unknown users, so a wrong name costs what a wrong password
/// does and timing does not tell which names exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        bcrypt::hash("vigil: no such user", bcrypt::DEFAULT_COST).unwrap_or_default()
    })
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn relative(base: &Path, p: &Path) -> PathBuf {
    // Paths in the file are relative to the file, as in exporter-toolkit.
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read_pem(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn version(v: &str, key: &str) -> Result<&'static rustls::SupportedProtocolVersion, String> {
    match v {
        "TLS12" => Ok(&rustls::version::TLS12),
        "TLS13" => Ok(&rustls::version::TLS13),
        "TLS10" | "TLS11" => Err(format!("{key}: {v} is not supported (TLS12 or TLS13)")),
        _ => Err(format!("{key}: unknown TLS version {v:?} (TLS12 or TLS13)")),
    }
}

impl WebConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text, path.parent().unwrap_or(Path::new(".")))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        let raw: RawWebConfig = if text.trim().is_empty() {
            RawWebConfig::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| e.to_string())?
        };
        for (user, hash) in &raw.basic_auth_users {
            bcrypt_shape(hash)
                .map_err(|e| format!("basic_auth_users.{user}: not a bcrypt hash ({e})"))?;
        }
        let tls = match raw.tls_server_config {
            None => None,
            Some(t) => Some(Arc::new(tls_config(t, base)?)),
        };
        Ok(Self {
            tls,
            users: raw.basic_auth_users,
            verified: Default::default(),
        })
    }

    /// Checks an `Authorization` header value against the users.
    pub fn authorized(&self, header: Option<&str>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(creds) = header.and_then(|h| h.strip_prefix("Basic ")) else {
            return false;
        };
        use base64::Engine;
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(creds.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, pass)) = raw.split_once(':') else {
            return false;
        };
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(raw.as_bytes()).into();
        let cache = || self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache().contains(&key) {
            return true;
        }
        let _one = BCRYPT.lock().unwrap_or_else(|p| p.into_inner());
        let ok = match self.users.get(user) {
            Some(hash) => bcrypt::verify(pass, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(pass, dummy_hash());
                false
            }
        };
        if ok {
            cache().insert(key);
        }
        ok
    }
}

/// The "$2y$NN$<53 characters>" shape of a bcrypt hash.
fn bcrypt_shape(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('$').collect();
    let ok = parts.len() == 4
        && parts[0].is_empty()
        && matches!(parts[1], "2a" | "2b" | "2x" | "2y")
        && parts[2].len() == 2
        && parts[2].parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
        && parts[3].len() == 53;
    if ok {
        Ok(())
    } else {
        Err("expected $2y$<cost>$<53 characters>".into())
    }
}

fn tls_config(t: RawTls, base: &Path) -> Result<rustls::ServerConfig, String> {
    // Refused rather than ignored: an operator who restricts ciphers must
    // not silently get the defaults.
    for (key, set) in [
        ("cipher_suites", t.cipher_suites.is_some()),
        ("curve_preferences", t.curve_preferences.is_some()),
        (
            "prefer_server_cipher_suites",
            t.prefer_server_cipher_suites.is_some(),
        ),
    ] {
        if set {
            return Err(format!(
                "tls_server_config.{key} is not supported (TLS 1.2 and 1.3 use rustls' safe defaults)"
            ));
        }
    }
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let cert_file = t
        .cert_file
        .ok_or("tls_server_config.cert_file is required")?;
    let key_file = t.key_file.ok_or("tls_server_config.key_file is required")?;
    let (cert_file, key_file) = (relative(base, &cert_file), relative(base, &key_file));
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_pem(&cert_file, "tls_server_config.cert_file")?)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls_server_config.cert_file {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls_server_config.cert_file {}: no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&read_pem(&key_file, "tls_server_config.key_file")?)
        .map_err(|e| format!("tls_server_config.key_file {}: {e}", key_file.display()))?;

    let min = t
        .min_version
        .as_deref()
        .map(|v| version(v, "tls_server_config.min_version"))
        .transpose()?;
    let max = t
        .max_version
        .as_deref()
        .map(|v| version(v, "tls_server_config.max_version"))
        .transpose()?;
    let versions: Vec<&'static rustls::SupportedProtocolVersion> =
        [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| min.is_none_or(|m| u16::from(v.version) >= u16::from(m.version)))
            .filter(|v| max.is_none_or(|m| u16::from(v.version) <= u16::from(m.version)))
            .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls_server_config: {e}"))?;

    let auth = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match auth {
        "NoClientCert" => builder.with_no_client_auth(),
        "RequireAndVerifyClientCert" | "VerifyClientCertIfGiven" => {
            let ca_file = relative(
                base,
                &t.client_ca_file
                    .ok_or("tls_server_config.client_ca_file is required for client auth")?,
            );
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_pem(
                &ca_file,
                "tls_server_config.client_ca_file",
            )?) {
                let c = c.map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
                roots
                    .add(c)
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = if auth == "VerifyClientCertIfGiven" {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(
                v.build()
                    .map_err(|e| format!("tls_server_config.client_ca_file: {e}"))?,
            )
        }
        other => {
            return Err(format!(
                "tls_server_config.client_auth_type: {other:?} is not supported \
                 (NoClientCert, VerifyClientCertIfGiven, RequireAndVerifyClientCert)"
            ))
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key do not match: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_checks_bcrypt_hashes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let cfg = WebConfig::parse(
            &format!("basic_auth_users:\n  prom: {hash}\n"),
            Path::new("/"),
        )
        .unwrap();
        use base64::Engine;
        let b = |s: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        };
        assert!(cfg.authorized(Some(&b("prom:s3cret"))));
        assert!(!cfg.authorized(Some(&b("prom:wrong"))));
        assert!(!cfg.authorized(Some(&b("other:s3cret"))));
        assert!(!cfg.authorized(None));
        assert!(WebConfig::default().authorized(None));
    }

    #[test]
    fn errors_name_the_key() {
        let e = WebConfig::parse("basic_auth_users:\n  prom: plain\n", Path::new("/")).unwrap_err();
        assert!(e.contains("basic_auth_users.prom"), "{e}");
        let e =
            WebConfig::parse("tls_server_config:\n  key_file: k\n", Path::new("/")).unwrap_err();
        assert!(e.contains("cert_file"), "{e}");
        let e = WebConfig::parse(
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: k\n",
            Path::new("/"),
        )
        .unwrap_err();
        assert!(e.contains("/nonexistent.crt"), "{e}");
        let e = WebConfig::parse("tls_sever_config: {}\n", Path::new("/")).unwrap_err();
        assert!(e.contains("tls_sever_config"), "{e}");
    }
}
