//! `cargo run -p actix-site` with no Discord credentials: the binary starts the mock Discord
//! in-process, and a visitor logs in through it, sees their avatar, `/me` and logs out.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_demo_logs_in_through_the_mock() {
    discord_oauth_test_sites::binary::check_offline_demo(env!("CARGO_BIN_EXE_actix-site")).await;
}
