//! Guides: from an empty terminal to working commands. Every Rust block in them is compiled
//! and run by this crate's tests, against the mock Discord (`discord-oauth-mock`), and every
//! `discord-auth` command line they show is parsed with this crate's [`Cli`](crate::cli::Cli).
//! The same files are in the repository (`examples/discord-auth/guides/`, indexed in `docs/`).

#[doc = include_str!("../guides/discord-auth.md")]
pub mod discord_auth {}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::Cli;

    /// The `discord-auth …` command lines of the guide's `sh` blocks, without comments and
    /// shell wrapping (`eval "$(…)"`).
    fn command_lines(guide: &str) -> Vec<Vec<String>> {
        let mut lines = Vec::new();
        let mut in_sh = false;
        for line in guide.lines() {
            match line.trim() {
                "```sh" => in_sh = true,
                "```" => in_sh = false,
                text if in_sh => {
                    let Some(start) = text.find("discord-auth ") else {
                        continue;
                    };
                    let command = text[start..].split('#').next().unwrap_or_default();
                    let command = command.split(")\"").next().unwrap_or_default();
                    lines.push(command.split_whitespace().map(str::to_owned).collect());
                }
                _ => {}
            }
        }
        lines
    }

    #[test]
    fn every_command_line_of_the_guide_parses() {
        let lines = command_lines(include_str!("../guides/discord-auth.md"));
        assert!(lines.len() >= 10, "found only {lines:?}");
        for line in lines {
            if let Err(e) = Cli::try_parse_from(&line) {
                panic!("`{}` does not parse: {e}", line.join(" "));
            }
        }
    }
}
