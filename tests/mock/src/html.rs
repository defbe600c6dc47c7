//! The few HTML pages the mock serves. Plain forms, no JavaScript, stable element ids for
//! browser tests: `#approve`, `#deny`, `#user`, `#guild`, `#mock-error`, `#bot-added`.

use std::fmt::Write as _;

use crate::util::html_escape as esc;

const STYLE: &str = "body{font-family:sans-serif;background:#313338;color:#dbdee1;display:flex;justify-content:center;padding-top:4em}\
main{background:#2b2d31;border-radius:8px;padding:2em;max-width:30em}\
h1{font-size:1.3em;color:#f2f3f5}button{padding:.6em 1.4em;border:0;border-radius:4px;margin-right:.5em;cursor:pointer}\
#approve{background:#5865f2;color:#fff}.buttons{display:flex;flex-direction:row-reverse;justify-content:flex-end;gap:.5em}#deny{background:#4e5058;color:#fff}\
select{padding:.3em;margin:.3em 0 1em}code{color:#f2f3f5}a{color:#00a8fc}.note{font-size:.8em;color:#949ba4}";

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><main>{body}<p class=\"note\">Mock Discord &mdash; for tests and offline demos only.</p></main></body></html>",
        esc(title)
    )
}

pub(crate) fn error_page(message: &str) -> String {
    page(
        "Discord (mock) - error",
        &format!("<h1>Something went wrong</h1><p id=\"mock-error\">{}</p>", esc(message)),
    )
}

/// One `<option>` in a select.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

pub(crate) struct Consent<'a> {
    pub(crate) app_name: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) hidden: &'a [(String, String)],
    pub(crate) users: Vec<Choice>,
    pub(crate) guilds: Option<Vec<Choice>>,
    pub(crate) guild_locked: bool,
    pub(crate) redirect_host: Option<String>,
}

fn options(choices: &[Choice]) -> String {
    let mut out = String::new();
    for c in choices {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            esc(&c.value),
            if c.selected { " selected" } else { "" },
            esc(&c.label)
        );
    }
    out
}

pub(crate) fn consent(c: &Consent<'_>) -> String {
    let mut body = format!(
        "<h1 id=\"consent-title\">{} wants to access your account</h1>",
        esc(c.app_name)
    );
    body.push_str("<form method=\"post\" id=\"consent\">");
    for (k, v) in c.hidden {
        let _ = write!(body, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v));
    }
    body.push_str("<label for=\"user\">Signed in as</label><br><select id=\"user\" name=\"user_id\">");
    body.push_str(&options(&c.users));
    body.push_str("</select><br>");
    if let Some(guilds) = &c.guilds {
        body.push_str("<label for=\"guild\">Add to server</label><br>");
        if c.guild_locked {
            if let Some(g) = guilds.iter().find(|g| g.selected) {
                let _ = write!(
                    body,
                    "<select id=\"guild\" disabled><option>{}</option></select><input type=\"hidden\" name=\"guild_id\" value=\"{}\"><br>",
                    esc(&g.label),
                    esc(&g.value)
                );
            }
        } else {
            body.push_str("<select id=\"guild\" name=\"guild_id\">");
            body.push_str(&options(guilds));
            body.push_str("</select><br>");
        }
    }
    body.push_str("<p>This will allow the application to:</p><ul id=\"scopes\">");
    for s in c.scopes {
        let _ = write!(body, "<li><code>{}</code></li>", esc(s));
    }
    body.push_str("</ul>");
    if let Some(host) = &c.redirect_host {
        let _ = write!(
            body,
            "<p class=\"note\">Once you authorize, you will be redirected to <code>{}</code>.</p>",
            esc(host)
        );
    }
    body.push_str(
        "<div class=\"buttons\"><button type=\"submit\" id=\"approve\" name=\"action\" value=\"approve\">Authorize</button>\
         <button type=\"submit\" id=\"deny\" name=\"action\" value=\"deny\">Cancel</button></div></form>",
    );
    page("Discord (mock) - Authorize access to your account", &body)
}

pub(crate) fn bot_added(app_name: &str, guild_name: &str, guild_id: &str, permissions: &str) -> String {
    page(
        "Discord (mock) - Authorized",
        &format!(
            "<h1 id=\"bot-added\">Authorized</h1><p><strong>{}</strong> has been added to <strong id=\"bot-guild\" data-guild-id=\"{}\">{}</strong> with permissions <code id=\"bot-permissions\">{}</code>.</p><p>You may now close this window.</p>",
            esc(app_name),
            esc(guild_id),
            esc(guild_name),
            esc(permissions)
        ),
    )
}

pub(crate) fn login_index(users: &[(String, String)], current: Option<&str>) -> String {
    let mut body = String::from("<h1>Log in to the mock Discord as…</h1><ul id=\"users\">");
    for (id, name) in users {
        let mark = if current == Some(id.as_str()) { " (current)" } else { "" };
        let _ = write!(
            body,
            "<li><a href=\"/mock/login-as/{}\">{}</a> <code>{}</code>{mark}</li>",
            esc(id),
            esc(name),
            esc(id)
        );
    }
    body.push_str("</ul><p><a href=\"/mock/logout\">Log out</a></p>");
    page("Discord (mock) - users", &body)
}

pub(crate) fn logged_in(name: &str, id: &str) -> String {
    page(
        "Discord (mock) - logged in",
        &format!(
            "<h1 id=\"logged-in\" data-user-id=\"{}\">Logged in as {}</h1><p><a href=\"/mock\">Switch user</a></p>",
            esc(id),
            esc(name)
        ),
    )
}
