//! `return_to` validation: where to send the user after login, confined to this site.
//!
//! Open redirects after login are a classic hole (oauth2-proxy CVE-2020-5233, CVE-2020-11053,
//! CVE-2021-21291…). This validator accepts only a same-site relative path and refuses
//! everything a browser might read as another origin.

use std::fmt;
use std::sync::LazyLock;

use url::Url;

/// The longest accepted `return_to` (2 KiB).
pub const MAX_RETURN_TO_BYTES: usize = 2048;

/// A validated same-site relative path (`/path?query#fragment`), safe to put in a
/// `Location` header.
///
/// ```
/// use discord_oauth_core::ReturnTo;
/// assert_eq!(ReturnTo::parse("/dashboard?x=1").unwrap().as_str(), "/dashboard?x=1");
/// for evil in ["https://evil.example", "//evil.example", "/\\evil.example", "https:evil.example",
///              "/%2f%2fevil.example", "javascript:alert(1)", "/\tevil", ""] {
///     assert!(ReturnTo::parse(evil).is_none(), "{evil}");
/// }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReturnTo(String);

impl ReturnTo {
    /// Validates `input`. Returns `None` unless it is a relative path that:
    /// - starts with exactly one `/` (not `//`, not `/\`), and is at most 2 KiB;
    /// - contains no backslash, no ASCII control character or whitespace, no non-ASCII
    ///   character (send percent-encoded paths instead);
    /// - after percent-decoding, still starts with one `/` followed by neither `/` nor `\`,
    ///   and contains no backslash or control character;
    /// - resolves against any origin to that same origin.
    pub fn parse(input: &str) -> Option<ReturnTo> {
        if input.is_empty() || input.len() > MAX_RETURN_TO_BYTES || !input.is_ascii() {
            return None;
        }
        if !is_safe_path(input) {
            return None;
        }
        let decoded = percent_decode(input)?;
        let d = decoded.as_bytes();
        if matches!(d.get(1), Some(b'/' | b'\\' | b' ')) || decoded.chars().any(|c| c == '\\' || c.is_control()) {
            return None;
        }
        // Final check with a real URL parser: joining onto a base must keep the base origin.
        let base = RETURN_TO_BASE.as_ref()?;
        let joined = base.join(input).ok()?;
        if joined.origin() != base.origin() {
            return None;
        }
        Some(ReturnTo(input.to_owned()))
    }

    /// The path, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The base `ReturnTo::parse` joins onto, parsed once.
static RETURN_TO_BASE: LazyLock<Option<Url>> = LazyLock::new(|| Url::parse("https://return-to.invalid/").ok());

fn is_safe_path(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !bytes
            .iter()
            .any(|&b| b == b'\\' || b.is_ascii_control() || b == b' ' || b >= 0x80)
}

/// Percent-decodes once; `None` if the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

impl fmt::Debug for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReturnTo").field(&self.0).finish()
    }
}

impl fmt::Display for ReturnTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ReturnTo {
    type Error = &'static str;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ReturnTo::parse(&s).ok_or("not a same-site relative path")
    }
}

impl From<ReturnTo> for String {
    fn from(r: ReturnTo) -> Self {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d01_plain_paths_are_kept() {
        for ok in [
            "/",
            "/dashboard",
            "/dashboard?x=1",
            "/a/b/c?q=%20x#frag",
            "/guilds/123",
            "/x?next=//y",
            "/%41",
        ] {
            assert_eq!(ReturnTo::parse(ok).map(|r| r.0), Some(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn d02_open_redirect_corpus_is_rejected() {
        let corpus = [
            "//evil.com",
            "/\\evil.com",
            "/%09/evil.com",
            "/\t/evil.com",
            "///evil.com",
            "https:evil.com",
            "https://evil.com",
            "http://evil.com/",
            "javascript:alert(1)",
            "data:text/html,x",
            "\\\\evil",
            "/%2f%2fevil",
            "/%2F%2Fevil",
            "/%5cevil",
            "/%5Cevil.com",
            "//user@evil.com",
            "/@evil.com\\x",
            "evil.com",
            "./evil",
            "../evil",
            "?x=1",
            "#x",
            " /x",
            "/x y",
            "/\r\nLocation: https://evil",
            "/%0d%0aSet-Cookie:x",
            "/\u{3002}evil",
            "/evil%E3%80%82com\\",
            "//evil%E3%80%82com",
            "/\0",
            "%2f%2fevil.com",
            "/ /evil.com",
            "/%20/evil",
            "mailto:a@b",
            "//",
            "/\\",
            "/\u{ff0f}evil",
            "\t//evil.com",
            "/%252f%252fevil",
        ];
        for evil in corpus {
            let r = ReturnTo::parse(evil);
            // `/%252f%252fevil` decodes once to `/%2f%2fevil`, a harmless same-origin path.
            if evil == "/%252f%252fevil" {
                assert!(r.is_some());
                continue;
            }
            assert!(r.is_none(), "{evil:?} must be rejected");
        }
    }

    #[test]
    fn d06_oversized_is_rejected() {
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO_BYTES));
        assert!(ReturnTo::parse(&long).is_none());
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<ReturnTo>(r#""//evil""#).is_err());
        assert_eq!(serde_json::from_str::<ReturnTo>(r#""/ok""#).unwrap().as_str(), "/ok");
    }
}
