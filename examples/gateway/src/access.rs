//! Who may pass: `ALLOWED_USERS`, `ALLOWED_GUILDS`, `ALLOWED_ROLES`, any of them.
//!
//! Guild and role decisions are the core's: [`GuildRequirement::met_by_guilds`] and
//! [`GuildRequirement::met_by_member`] judge what Discord answered, and [`GuardDecisions`]
//! remembers each (user, requirement) decision for the re-check interval. What Discord is
//! asked goes through the login layer's user-bound client ([`UserApi`]): its per-token rate
//! limits, invalid-request budget and global-429 breaker.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use discord_oauth_axum::UserApi;
use discord_oauth_core::api::client::{ClientError, UserCalls};
use discord_oauth_core::api::{ApiError, CurrentUserGuild, Member};
use discord_oauth_core::login::AuthSession;
use discord_oauth_core::login::flow::{GuardDecisions, GuildRequirement};
use discord_oauth_core::response::ApiCall;
use discord_oauth_core::{AccessToken, Endpoints, Scope};

/// `GET /users/@me/guilds` pages read at most (200 guilds each: more than a user can join).
const MAX_GUILD_PAGES: usize = 5;

/// Locks that make a user's re-check single flight: a user's concurrent requests wait for one
/// round of calls to Discord instead of each making it (striped by user id: bounded memory).
const FLIGHTS: usize = 64;

/// The allow lists and the remembered decisions.
#[derive(Debug)]
pub(crate) struct Policy {
    users: HashSet<u64>,
    requirements: Vec<GuildRequirement>,
    decisions: GuardDecisions,
    flights: Vec<tokio::sync::Mutex<()>>,
}

/// What the policy says about a logged-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let through; the listed guilds and roles the user holds (for `X-Forwarded-Groups`).
    Allowed(Vec<GuildRequirement>),
    /// Not on any list: `403`.
    Denied,
}

/// The user-bound calls, with the layer's driver and the user's token.
struct Calls<'a> {
    api: &'a UserApi,
    token: &'a AccessToken,
}

impl UserCalls for Calls<'_> {
    type Error = ClientError;

    fn endpoints(&self) -> &Endpoints {
        self.api.endpoints()
    }

    fn access_token(&self) -> &AccessToken {
        self.token
    }

    async fn call<R: Send>(&self, call: &ApiCall<R>) -> Result<R, ClientError> {
        self.api.call(call, self.token).await
    }
}

impl Policy {
    /// The lists, with decisions trusted for `decisions`' TTL (the re-check interval).
    pub(crate) fn new(users: HashSet<u64>, requirements: Vec<GuildRequirement>, decisions: GuardDecisions) -> Self {
        Self {
            users,
            requirements,
            decisions,
            flights: (0..FLIGHTS).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// The group names of `held`: `guild:ID`, `guild:ID:role:ID`.
    pub(crate) fn groups(held: &[GuildRequirement]) -> Vec<String> {
        held.iter()
            .map(|r| match r.role_id {
                None => format!("guild:{}", r.guild_id),
                Some(role) => format!("guild:{}:role:{role}", r.guild_id),
            })
            .collect()
    }

    /// The verdict on `session`'s user now: any listed user, guild or role lets the user
    /// through; with no list at all, every Discord user passes. Guild and role decisions older
    /// than the re-check interval are asked again through `api`, once for all of the user's
    /// concurrent requests; when Discord cannot be asked, the error (the caller answers
    /// `503`), except for a listed user, who passes without groups.
    pub(crate) async fn decide(&self, session: &AuthSession, api: Option<&UserApi>) -> Result<Verdict, ClientError> {
        let user_id = session.user.id.get();
        let listed = self.users.contains(&user_id);
        if self.requirements.is_empty() {
            return Ok(if listed || self.users.is_empty() {
                Verdict::Allowed(Vec::new())
            } else {
                Verdict::Denied
            });
        }
        let remembered = |now| -> Option<Vec<bool>> {
            self.requirements
                .iter()
                .map(|r| self.decisions.get(user_id, *r, now))
                .collect()
        };
        if let Some(met) = remembered(SystemTime::now()) {
            return Ok(self.verdict(listed, met));
        }
        let _flight = self.flights[(user_id % FLIGHTS as u64) as usize].lock().await;
        // Another request of this user may have asked while this one waited.
        let now = SystemTime::now();
        let met = match remembered(now) {
            Some(met) => met,
            None => match self.ask(session, api).await {
                Ok(met) => {
                    for (r, m) in self.requirements.iter().zip(&met) {
                        self.decisions.remember(user_id, *r, *m, now);
                    }
                    met
                }
                Err(e) if listed => {
                    tracing::warn!(error = %e, user_id, "guild check failed; the user is listed in ALLOWED_USERS");
                    return Ok(Verdict::Allowed(Vec::new()));
                }
                Err(e) => return Err(e),
            },
        };
        Ok(self.verdict(listed, met))
    }

    /// The verdict from whether the user is `listed` and which requirements they `met`.
    fn verdict(&self, listed: bool, met: Vec<bool>) -> Verdict {
        let held: Vec<GuildRequirement> = self
            .requirements
            .iter()
            .zip(met)
            .filter_map(|(r, m)| m.then_some(*r))
            .collect();
        if listed || !held.is_empty() {
            Verdict::Allowed(held)
        } else {
            Verdict::Denied
        }
    }

    /// Asks Discord: the guild list once (with `guilds`) for the guilds without a role, the
    /// member record once per guild (with `guilds.members.read`) for roles; each requirement
    /// judged by the core. A requirement no granted scope can check is not met.
    async fn ask(&self, session: &AuthSession, api: Option<&UserApi>) -> Result<Vec<bool>, ClientError> {
        let (Some(api), Some(tokens)) = (api, session.tokens.as_ref()) else {
            return Ok(vec![false; self.requirements.len()]);
        };
        let calls = Calls {
            api,
            token: &tokens.access_token,
        };
        let by_list = tokens.has_scope(&Scope::Guilds);
        let by_member = tokens.has_scope(&Scope::GuildsMembersRead);
        let guilds: Option<Vec<CurrentUserGuild>> = if by_list && self.requirements.iter().any(|r| r.role_id.is_none())
        {
            Some(calls.all_guilds(MAX_GUILD_PAGES).await?)
        } else {
            None
        };
        let mut members: HashMap<u64, Option<Member>> = HashMap::new();
        let mut met = Vec::with_capacity(self.requirements.len());
        for r in &self.requirements {
            let ok = match &guilds {
                Some(list) if r.role_id.is_none() => r.met_by_guilds(list),
                _ if by_member => {
                    if let std::collections::hash_map::Entry::Vacant(entry) = members.entry(r.guild_id) {
                        let member = match calls.guild_member(r.guild_id.into()).await {
                            Ok(m) => Some(m),
                            Err(ClientError::Api(ApiError::NotFound(_))) => None,
                            Err(e) => return Err(e),
                        };
                        entry.insert(member);
                    }
                    r.met_by_member(members.get(&r.guild_id).and_then(Option::as_ref))
                }
                _ => false,
            };
            met.push(ok);
        }
        Ok(met)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        let held = [
            GuildRequirement {
                guild_id: 1,
                role_id: None,
            },
            GuildRequirement {
                guild_id: 1,
                role_id: Some(2),
            },
        ];
        assert_eq!(Policy::groups(&held), ["guild:1", "guild:1:role:2"]);
    }
}
