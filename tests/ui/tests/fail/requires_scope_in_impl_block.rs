//! `#[requires_scope]` alone on an associated function: the compiler refuses the requirement
//! type inside the block, and the README says to put `#[scoped_handlers]` on the block.
use oauth_runtime::{Claims, requires_scope};

struct Photos;

impl Photos {
    #[requires_scope("photos:read")]
    async fn list(claims: Claims) -> String {
        claims.subject().unwrap_or_default().to_owned()
    }
}

fn main() {}
