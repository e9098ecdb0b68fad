//! What the tests of the management commands start from: tenant `acme` with role `admin`,
//! and two APIs, billing and inventory, made through the CLI.

use super::db::TestDb;

pub const BILLING: &str = "https://billing.example.com";
pub const INVENTORY: &str = "urn:example:inventory";

impl TestDb {
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
        self.cli(&[
            "api",
            "create",
            "--identifier",
            BILLING,
            "--name",
            "Billing",
            "--scope",
            "billing:read",
            "--scope",
            "billing:write",
        ])
        .await
        .ok();
        self.cli(&[
            "api",
            "create",
            "--identifier",
            INVENTORY,
            "--scope",
            "x",
            "--scope",
            "y",
        ])
        .await
        .ok();
    }
}
