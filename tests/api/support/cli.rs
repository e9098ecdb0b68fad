//! The management commands against a test's database: the real binary run from the test's
//! folder, the records tests make through it, and what the tests of the commands start from
//! (tenant `acme` with role `admin`, and two APIs, billing and inventory).

use super::binary::{self, CliOutput};
use super::db::TestDb;
use super::oauth::TestClient;

pub const BILLING: &str = "https://billing.example.com";
pub const INVENTORY: &str = "urn:example:inventory";

impl TestDb {
    /// Runs the real `castellan` binary against this database, from this folder.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        self.cli_with_env(args, &[]).await
    }

    /// Runs the CLI with extra `CASTELLAN_*` settings (an inline master key replaces the file).
    pub async fn cli_with_env(&self, args: &[&str], extra: &[(&str, &str)]) -> CliOutput {
        binary::run(self.dir.path(), &self.database_url, args, extra, b"").await
    }

    /// Runs the CLI with `input` on its standard input (a password, say).
    pub async fn cli_with_stdin(&self, args: &[&str], input: &[u8]) -> CliOutput {
        binary::run(self.dir.path(), &self.database_url, args, &[], input).await
    }

    /// `api create --identifier IDENTIFIER EXTRA...` through the CLI.
    pub async fn cli_create_api(&self, identifier: &str, extra: &[&str]) -> CliOutput {
        let mut args = vec!["api", "create", "--identifier", identifier];
        args.extend_from_slice(extra);
        self.cli(&args).await
    }

    /// `client create --tenant TENANT --name NAME EXTRA...` through the CLI.
    pub async fn cli_create_client(&self, tenant: &str, name: &str, extra: &[&str]) -> CliOutput {
        let mut args = vec!["client", "create", "--tenant", tenant, "--name", name];
        args.extend_from_slice(extra);
        self.cli(&args).await
    }

    /// The client that [`TestDb::cli_create_client`] with `--json` made.
    pub async fn cli_client(&self, tenant: &str, name: &str, extra: &[&str]) -> TestClient {
        let extra = [extra, &["--json"]].concat();
        let created = self.cli_create_client(tenant, name, &extra).await;
        TestClient::from_created(&created.json())
    }

    /// A web client of `tenant` through the CLI: the code and refresh grants, redirecting to
    /// [`super::REDIRECT`], then `extra`.
    pub async fn cli_web_client(&self, tenant: &str, name: &str, extra: &[&str]) -> TestClient {
        let web = [
            "--grant",
            "authorization_code",
            "--grant",
            "refresh_token",
            "--redirect-uri",
            super::REDIRECT,
        ];
        self.cli_client(tenant, name, &[&web, extra].concat()).await
    }

    /// `user create --tenant TENANT --username USERNAME EXTRA... --password-stdin` through the
    /// CLI, with `password` on its standard input.
    pub async fn cli_create_user(
        &self,
        tenant: &str,
        username: &str,
        extra: &[&str],
        password: &[u8],
    ) -> CliOutput {
        let mut args = vec!["user", "create", "--tenant", tenant, "--username", username];
        args.extend_from_slice(extra);
        args.push("--password-stdin");
        self.cli_with_stdin(&args, password).await
    }

    /// A service client of `tenant` granted `api` with scope `scope`, through the CLI.
    pub async fn cli_service(&self, tenant: &str, api: &str, scope: &str) -> TestClient {
        let args = [
            "--grant",
            "client_credentials",
            "--api",
            api,
            "--scope",
            scope,
        ];
        // Client names are unique per tenant; a test may make several services in one.
        let name = format!("service {}", super::db::random_hex());
        self.cli_client(tenant, &name, &args).await
    }

    pub async fn cli_tenants(&self, slugs: &[&str]) {
        for slug in slugs {
            self.cli(&["tenant", "create", slug]).await.ok();
        }
    }

    /// Tenant `acme`, role `admin` (permissions `a.b`, `c.d`), API billing (`billing:read`,
    /// `billing:write`) and API inventory (`x`, `y`), through the CLI.
    pub async fn provision(&self) {
        self.cli(&["tenant", "create", "acme", "--name", "Acme"])
            .await
            .ok();
        self.cli(&[
            "role",
            "create",
            "--tenant",
            "acme",
            "admin",
            "--permission",
            "a.b",
            "--permission",
            "c.d",
        ])
        .await
        .ok();
        self.cli_create_api(
            BILLING,
            &[
                "--name",
                "Billing",
                "--scope",
                "billing:read",
                "--scope",
                "billing:write",
            ],
        )
        .await
        .ok();
        self.cli_create_api(INVENTORY, &["--scope", "x", "--scope", "y"])
            .await
            .ok();
    }
}
