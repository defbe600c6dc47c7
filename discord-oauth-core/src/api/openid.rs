//! OpenID Connect endpoints: `/oauth2/userinfo` and `/oauth2/keys`.

use oauth2::AccessToken;

use super::{ApiCall, Credential, api_request};
use crate::Endpoints;
use crate::oidc::{Jwks, UserInfo};
use crate::response::parse_api_json;

/// `GET /oauth2/userinfo`: the user's OpenID Connect profile. Needs the `openid` scope.
///
/// ```
/// use discord_oauth_core::{AccessToken, Endpoints, api};
/// let call = api::userinfo(&Endpoints::discord(), &AccessToken::new("t".into()));
/// assert_eq!(call.request().uri(), "https://discord.com/api/v10/oauth2/userinfo");
/// let resp = http::Response::builder().status(200)
///     .body(br#"{"sub":"80351110224678912","preferred_username":"nelly"}"#.to_vec()).unwrap();
/// assert_eq!(call.parse(resp).unwrap().sub, "80351110224678912");
/// ```
pub fn userinfo(endpoints: &Endpoints, token: &AccessToken) -> ApiCall<UserInfo> {
    ApiCall::new(
        api_request(
            endpoints,
            http::Method::GET,
            "oauth2/userinfo",
            Credential::Bearer(token),
            None,
        ),
        parse_api_json,
    )
}

/// `GET /oauth2/keys`: Discord's public signing keys for ID tokens (no credential). Cache
/// them; fetch again when a token names an unknown `kid`.
///
/// ```
/// use discord_oauth_core::{Endpoints, api};
/// let req = api::keys(&Endpoints::discord()).request();
/// assert_eq!(req.uri(), "https://discord.com/api/v10/oauth2/keys");
/// assert!(req.headers().get("authorization").is_none());
/// ```
pub fn keys(endpoints: &Endpoints) -> ApiCall<Jwks> {
    ApiCall::new(
        api_request(endpoints, http::Method::GET, "oauth2/keys", Credential::None, None),
        parse_api_json,
    )
}
