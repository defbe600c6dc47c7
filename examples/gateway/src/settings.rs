//! The gateway's settings: the sample sites' (read by `sample-common`) plus its own, from the
//! environment and, optionally, a TOML file with the same keys (the environment wins).
//! Every error is one sentence that starts with the key at fault.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use discord_oauth_core::Scope;
use discord_oauth_core::login::flow::GuildRequirement;
use http::{Method, Uri};
use regex::Regex;
use sample_common::Settings;

/// How often a logged-in user's guilds and roles are checked again by default.
pub(crate) const DEFAULT_RECHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Every key the gateway reads. A TOML file with any other key is refused.
pub(crate) const KEYS: &[&str] = &[
    "DISCORD_CLIENT_ID",
    "DISCORD_CLIENT_SECRET",
    "DISCORD_REDIRECT_URI",
    "DISCORD_API_BASE",
    "DISCORD_AUTHORIZE_URL",
    "DISCORD_CDN_BASE",
    "DISCORD_PUBLIC_KEY",
    "DISCORD_EXTRA_SCOPES",
    "BIND",
    "SESSION_STORE",
    "REDIS_URL",
    "SESSION_KEY",
    "SESSION_KEY_PREVIOUS",
    "UPSTREAM",
    "ALLOWED_USERS",
    "ALLOWED_GUILDS",
    "ALLOWED_ROLES",
    "SKIP_AUTH",
    "RECHECK_INTERVAL",
    "PASS_ACCESS_TOKEN",
];

/// A value as written: one string (split at commas where a list is expected), or a TOML array
/// (one element per item, so a `SKIP_AUTH` regex may contain commas).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Raw {
    Text(String),
    List(Vec<String>),
}

impl Raw {
    fn text(&self) -> String {
        match self {
            Raw::Text(t) => t.clone(),
            Raw::List(items) => items.join(","),
        }
    }

    fn items(&self) -> Vec<String> {
        let items = match self {
            Raw::Text(t) => t.split(',').map(str::to_owned).collect(),
            Raw::List(items) => items.clone(),
        };
        items
            .into_iter()
            .map(|i| i.trim().to_owned())
            .filter(|i| !i.is_empty())
            .collect()
    }
}

/// A lookup of the environment by name.
type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// Where settings come from: a lookup of the environment, then the file's table.
pub(crate) struct Sources {
    env: Lookup,
    file: BTreeMap<String, Raw>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("file_keys", &self.file.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Sources {
    /// The environment `env`, and the TOML text `file` (named `path` in errors), if any.
    pub(crate) fn new(
        env: impl Fn(&str) -> Option<String> + 'static,
        file: Option<(&Path, &str)>,
    ) -> Result<Self, String> {
        let file = match file {
            Some((path, text)) => parse_file(path, text)?,
            None => BTreeMap::new(),
        };
        Ok(Self {
            env: Box::new(env),
            file,
        })
    }

    /// A key's value; empty values count as unset.
    fn get(&self, key: &str) -> Option<Raw> {
        let raw = (self.env)(key).map(Raw::Text).or_else(|| self.file.get(key).cloned())?;
        let empty = match &raw {
            Raw::Text(t) => t.trim().is_empty(),
            Raw::List(items) => items.iter().all(|i| i.trim().is_empty()),
        };
        (!empty).then_some(raw)
    }
}

fn parse_file(path: &Path, text: &str) -> Result<BTreeMap<String, Raw>, String> {
    let shown = path.display();
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("--config {shown} is not valid TOML: {}", e.message()))?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let name = key.to_ascii_uppercase();
        if !KEYS.contains(&name.as_str()) {
            return Err(format!(
                "{key} (in {shown}) is not a setting of the gateway; the settings are {}",
                KEYS.join(", ")
            ));
        }
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        };
        let raw = match &value {
            toml::Value::Array(items) => Raw::List(
                items
                    .iter()
                    .map(|v| {
                        scalar(v).ok_or_else(|| format!("{name} (in {shown}): list items must be strings or integers"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            v => Raw::Text(scalar(v).ok_or_else(|| {
                format!("{name} (in {shown}) must be a string, an integer, a boolean or a list of them")
            })?),
        };
        out.insert(name, raw);
    }
    Ok(out)
}

/// A route proxied without login (`SKIP_AUTH`): an optional method and a regex on the path.
#[derive(Debug, Clone)]
pub(crate) struct SkipRule {
    method: Option<Method>,
    path: Regex,
}

impl SkipRule {
    fn parse(rule: &str) -> Result<Self, String> {
        let (method, pattern) = match rule.split_once('=') {
            Some((m, p)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => {
                let method = Method::from_bytes(m.as_bytes())
                    .map_err(|_| format!("SKIP_AUTH: `{m}` in `{rule}` is not an HTTP method"))?;
                (Some(method), p)
            }
            _ => (None, rule),
        };
        let path =
            Regex::new(pattern).map_err(|e| format!("SKIP_AUTH: `{pattern}` is not a regular expression: {e}"))?;
        Ok(Self { method, path })
    }

    /// Whether a request for `path` with `method` is proxied without login.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && self.path.is_match(path)
    }
}

/// Where requests go: an `http://host:port` origin, with an optional base path.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    /// `host:port`.
    pub(crate) authority: http::uri::Authority,
    /// The base path without its trailing `/` (empty for none).
    pub(crate) base_path: String,
}

impl Upstream {
    fn parse(text: &str) -> Result<Self, String> {
        let uri: Uri = text
            .trim()
            .parse()
            .map_err(|e| format!("UPSTREAM is not a URL like http://127.0.0.1:8080: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(format!(
                    "UPSTREAM must be an http:// URL (the app next to the gateway; {other}:// is not supported)"
                ));
            }
            None => return Err("UPSTREAM must be an absolute http:// URL, e.g. http://127.0.0.1:8080".into()),
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or("UPSTREAM has no host, e.g. http://127.0.0.1:8080")?;
        if uri.query().is_some() {
            return Err("UPSTREAM must not have a query string".into());
        }
        Ok(Self {
            authority,
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The upstream URI for a request to `path_and_query` at the gateway.
    pub(crate) fn uri_for(&self, path_and_query: &str) -> Result<Uri, http::Error> {
        Uri::builder()
            .scheme("http")
            .authority(self.authority.clone())
            .path_and_query(format!("{}{path_and_query}", self.base_path))
            .build()
    }
}

/// Everything the gateway was configured with.
#[derive(Debug)]
pub(crate) struct GatewaySettings {
    /// The sample-site settings (Discord app, `BIND`, sessions, keys).
    pub(crate) site: Settings,
    /// `UPSTREAM`.
    pub(crate) upstream: Upstream,
    /// `ALLOWED_USERS`.
    pub(crate) allowed_users: HashSet<u64>,
    /// `ALLOWED_GUILDS` (no role), then `ALLOWED_ROLES`.
    pub(crate) requirements: Vec<GuildRequirement>,
    /// `SKIP_AUTH`.
    pub(crate) skip_auth: Vec<SkipRule>,
    /// `RECHECK_INTERVAL`.
    pub(crate) recheck_interval: Duration,
    /// `PASS_ACCESS_TOKEN`.
    pub(crate) pass_access_token: bool,
    /// The scopes asked for at login: `identify`, `guilds` for guilds, `guilds.members.read`
    /// for roles, and `DISCORD_EXTRA_SCOPES`.
    pub(crate) scopes: Vec<Scope>,
}

fn snowflake(key: &str, text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| format!("{key}: `{text}` is not a Discord id (a number like 1200000000000000001)"))
}

fn duration(key: &str, text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("{key}: `{text}` is not a duration like `60`, `60s`, `500ms` or `5m`");
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit())
        .map_or((text, "s"), |at| text.split_at(at));
    let n: u64 = number.parse().map_err(|_| bad())?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(bad()),
    }
}

fn boolean(key: &str, text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("{key}: `{other}` is not `true` or `false`")),
    }
}

impl GatewaySettings {
    /// Reads every setting from `sources`.
    pub(crate) fn read(sources: &Sources) -> Result<Self, String> {
        let site = Settings::from_vars(|key| sources.get(key).map(|raw| raw.text()))?;
        let upstream = sources
            .get("UPSTREAM")
            .ok_or("UPSTREAM is not set: the URL of the app to put behind the login, e.g. http://127.0.0.1:8080")?;
        let upstream = Upstream::parse(&upstream.text())?;
        let items = |key: &str| sources.get(key).map(|raw| raw.items()).unwrap_or_default();
        let allowed_users = items("ALLOWED_USERS")
            .iter()
            .map(|id| snowflake("ALLOWED_USERS", id))
            .collect::<Result<HashSet<_>, _>>()?;
        let mut requirements = Vec::new();
        for id in items("ALLOWED_GUILDS") {
            requirements.push(GuildRequirement {
                guild_id: snowflake("ALLOWED_GUILDS", &id)?,
                role_id: None,
            });
        }
        let has_guilds = !requirements.is_empty();
        for pair in items("ALLOWED_ROLES") {
            let (guild, role) = pair.split_once(':').ok_or_else(|| {
                format!("ALLOWED_ROLES: `{pair}` is not `guild_id:role_id` (two Discord ids separated by `:`)")
            })?;
            requirements.push(GuildRequirement {
                guild_id: snowflake("ALLOWED_ROLES", guild.trim())?,
                role_id: Some(snowflake("ALLOWED_ROLES", role.trim())?),
            });
        }
        let has_roles = requirements.iter().any(|r| r.role_id.is_some());
        let skip_auth = items("SKIP_AUTH")
            .iter()
            .map(|rule| SkipRule::parse(rule))
            .collect::<Result<_, _>>()?;
        let recheck_interval = sources
            .get("RECHECK_INTERVAL")
            .map(|raw| duration("RECHECK_INTERVAL", &raw.text()))
            .transpose()?
            .unwrap_or(DEFAULT_RECHECK_INTERVAL);
        let pass_access_token = sources
            .get("PASS_ACCESS_TOKEN")
            .map(|raw| boolean("PASS_ACCESS_TOKEN", &raw.text()))
            .transpose()?
            .unwrap_or(false);
        let mut scopes = vec![Scope::Identify];
        if has_guilds {
            scopes.push(Scope::Guilds);
        }
        if has_roles {
            scopes.push(Scope::GuildsMembersRead);
        }
        for name in items("DISCORD_EXTRA_SCOPES") {
            let scope = Scope::parse(&name);
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        Ok(Self {
            site,
            upstream,
            allowed_users,
            requirements,
            skip_auth,
            recheck_interval,
            pass_access_token,
            scopes,
        })
    }
}

/// An upstream for other modules' unit tests.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn tests_upstream() -> Upstream {
    Upstream::parse("http://127.0.0.1:9").unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(env: &'static [(&'static str, &'static str)], file: Option<&str>) -> Result<GatewaySettings, String> {
        let lookup = move |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned());
        let sources = Sources::new(lookup, file.map(|text| (Path::new("gateway.toml"), text)))?;
        GatewaySettings::read(&sources)
    }

    #[test]
    fn defaults_and_scopes() {
        let open = read(&[("UPSTREAM", "http://127.0.0.1:8080")], None).unwrap();
        assert!(open.allowed_users.is_empty() && open.requirements.is_empty());
        assert_eq!(open.scopes, [Scope::Identify]);
        assert_eq!(open.recheck_interval, DEFAULT_RECHECK_INTERVAL);
        assert!(!open.pass_access_token);
        let gated = read(
            &[
                ("UPSTREAM", "http://127.0.0.1:8080/app/"),
                ("ALLOWED_GUILDS", "1, 2"),
                ("ALLOWED_ROLES", "1:11"),
                ("DISCORD_EXTRA_SCOPES", "email"),
                ("RECHECK_INTERVAL", "500ms"),
            ],
            None,
        )
        .unwrap();
        assert_eq!(
            gated.scopes,
            [Scope::Identify, Scope::Guilds, Scope::GuildsMembersRead, Scope::Email]
        );
        assert_eq!(gated.requirements.len(), 3);
        assert_eq!(gated.recheck_interval, Duration::from_millis(500));
        assert_eq!(
            gated.upstream.uri_for("/x?y=1").unwrap().to_string(),
            "http://127.0.0.1:8080/app/x?y=1"
        );
        let roles_only = read(&[("UPSTREAM", "http://a:1"), ("ALLOWED_ROLES", "1:11")], None).unwrap();
        assert_eq!(roles_only.scopes, [Scope::Identify, Scope::GuildsMembersRead]);
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "UPSTREAM is not set"),
            (&[("UPSTREAM", "https://a")], "UPSTREAM must be an http://"),
            (
                &[("UPSTREAM", "http://a:1"), ("ALLOWED_GUILDS", "abc")],
                "ALLOWED_GUILDS: `abc`",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("ALLOWED_USERS", "0")],
                "ALLOWED_USERS: `0`",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("ALLOWED_ROLES", "12")],
                "ALLOWED_ROLES: `12`",
            ),
            (&[("UPSTREAM", "http://a:1"), ("SKIP_AUTH", "GET=(")], "SKIP_AUTH: `(`"),
            (
                &[("UPSTREAM", "http://a:1"), ("RECHECK_INTERVAL", "soon")],
                "RECHECK_INTERVAL: `soon`",
            ),
            (
                &[("UPSTREAM", "http://a:1"), ("PASS_ACCESS_TOKEN", "maybe")],
                "PASS_ACCESS_TOKEN: `maybe`",
            ),
            (&[("UPSTREAM", "http://a:1"), ("BIND", "here")], "BIND"),
        ];
        for (env, expected) in cases {
            let env: &'static [(&'static str, &'static str)] = Box::leak(env.to_vec().into_boxed_slice());
            let error = read(env, None).unwrap_err();
            assert!(error.starts_with(expected), "{expected:?} vs {error:?}");
        }
    }

    #[test]
    fn the_file_has_the_same_keys_and_the_environment_wins() {
        let file = r#"
            upstream = "http://127.0.0.1:9000"
            ALLOWED_GUILDS = [1200000000000000001, "1200000000000000100"]
            SKIP_AUTH = ["GET=^/health$", "^/public/[a-z]{1,3}$"]
            PASS_ACCESS_TOKEN = true
        "#;
        let settings = read(&[("UPSTREAM", "http://127.0.0.1:9001")], Some(file)).unwrap();
        assert_eq!(settings.upstream.authority.as_str(), "127.0.0.1:9001");
        assert_eq!(settings.requirements.len(), 2);
        assert!(settings.pass_access_token);
        assert_eq!(settings.skip_auth.len(), 2, "a list item may contain commas");
        assert!(settings.skip_auth[0].matches(&Method::GET, "/health"));
        assert!(!settings.skip_auth[0].matches(&Method::POST, "/health"));
        assert!(settings.skip_auth[1].matches(&Method::POST, "/public/ab"));
        let unknown = read(&[], Some("UPSTREEM = \"http://a:1\"")).unwrap_err();
        assert!(
            unknown.starts_with("UPSTREEM (in gateway.toml) is not a setting"),
            "{unknown}"
        );
        let bad = read(&[], Some("UPSTREAM = {a = 1}")).unwrap_err();
        assert!(bad.starts_with("UPSTREAM (in gateway.toml) must be"), "{bad}");
        assert!(read(&[], Some("UPSTREAM = ")).unwrap_err().contains("not valid TOML"));
    }
}
