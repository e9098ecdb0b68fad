//! The sign-in pages over HTTP: a client's display name. (What a person sees and does in a real
//! browser: `browser.rs`.)

use crate::on_both_backends;
use crate::support::{Backend, TestApp, eventually};

on_both_backends!(pages_show_a_clients_display_name_not_its_name);

fn title(page: &str) -> &str {
    let start = page.find("<title>").map_or(0, |i| i + "<title>".len());
    let end = page[start..].find("</title>").map_or(start, |i| start + i);
    &page[start..end]
}

async fn pages_show_a_clients_display_name_not_its_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_ada(&[]).await;
    let client = app
        .cli_web_client(
            "default",
            "ledger-web-prod",
            &["--display-name", "Ledger", "--skip-consent"],
        )
        .await;
    let rp = app.rp(client.clone());
    let shown = app
        .cli(&["client", "show", &client.id, "--json"])
        .await
        .json();
    assert_eq!(shown["name"], "ledger-web-prod");
    assert_eq!(shown["display_name"], "Ledger");

    let login = app.browser().page(&rp.authorize_url("")).await;
    assert_eq!(title(&login), "Sign in to Ledger");
    assert!(!login.contains("ledger-web-prod"), "{login}");

    app.cli(&[
        "client",
        "update",
        &client.id,
        "--display-name",
        "Ledger Books",
    ])
    .await
    .ok();
    eventually("the new display name is shown", async || {
        let page = app.browser().page(&rp.authorize_url("")).await;
        (title(&page) == "Sign in to Ledger Books").then_some(())
    })
    .await;
    // An empty display name shows the client's name again.
    app.cli(&["client", "update", &client.id, "--display-name", ""])
        .await
        .ok();
    eventually("the name is shown again", async || {
        let page = app.browser().page(&rp.authorize_url("")).await;
        (title(&page) == "Sign in to ledger-web-prod").then_some(())
    })
    .await;
}
