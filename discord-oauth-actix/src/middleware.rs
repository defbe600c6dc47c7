//! The login driver's decision for each request ([`attach`]): the [`AuthState`], after
//! refreshing tokens that are about to expire (once per session, however many requests wait).
//! [`crate::DiscordSessions`] calls it.

use std::sync::Arc;

use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::driver::Attached;

use crate::extract::AuthState;
use crate::routes::ActixSession;
use crate::shared::{DiscordOAuth, Shared};
use crate::snapshot::LoginPart;

/// The driver's decision for this request, refreshing under the refresh lock if needed.
pub(crate) async fn attach(oauth: &DiscordOAuth, login: &LoginPart) -> Result<AuthState, http::Response<String>> {
    let shared = &oauth.shared;
    let io = ActixSession { login, shared };
    Ok(match shared.driver.attach(&shared.io, &io, None).await? {
        decided @ (Attached::Anonymous | Attached::Unavailable | Attached::Authenticated(_)) => {
            AuthState::new(decided, oauth.clone())
        }
        Attached::NeedsRefresh(stale) => match refresh(shared, &io, stale).await? {
            Some(fresh) => AuthState::new(Attached::Authenticated(fresh), oauth.clone()),
            None => AuthState::new(Attached::Anonymous, oauth.clone()),
        },
    })
}

/// Refreshes once per refresh token at a time, the runtime's strategy
/// ([`discord_oauth_runtime::refresh::RefreshLocks`]): requests carrying the same session wait
/// for the first one and get its outcome (Discord's refresh tokens are single use, F-05).
async fn refresh(
    shared: &Shared,
    io: &ActixSession<'_>,
    stale: Arc<AuthSession>,
) -> Result<Option<Arc<AuthSession>>, http::Response<String>> {
    shared
        .refresh
        .refresh(&shared.driver, &shared.io, io, stale, None)
        .await
}
