//! The claim checks every verifier applies after it trusts a token's origin: lifetime (`exp`,
//! `nbf`), issuer and audience. One routine, so that a JWT and an introspection answer are held
//! to the same rules (RFC 7519 §4.1, RFC 7662 §2.2, RFC 9068 §4).

use std::time::Duration;

use crate::claims::Claims;
use crate::verify::VerifyError;

/// Which values of a claim are accepted.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    /// One of these values must be there.
    OneOf(Vec<String>),
    /// The claim is not looked at.
    Any,
}

/// The claim checks of one verifier.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) issuer: Check,
    pub(crate) audience: Check,
    /// For tokens without `aud` (Cognito), their `client_id` stands in when this is on.
    pub(crate) client_id_as_audience: bool,
    /// Tolerated clock skew, in seconds, on `exp` and `nbf`.
    pub(crate) leeway: i64,
    /// Whether a token without `exp` is refused. A JWT must say when it ends; an introspection
    /// answer may leave it out (RFC 7662 §2.2), the server having said the token is active.
    pub(crate) require_exp: bool,
}

/// A duration in whole seconds, saturating.
pub(crate) fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl ClaimRules {
    /// Checks `claims` at `now` (seconds since the epoch).
    pub(crate) fn validate(&self, claims: &Claims, now: i64) -> Result<(), VerifyError> {
        match claims.expires_at() {
            Some(exp) if now >= exp.saturating_add(self.leeway) => {
                return Err(VerifyError::Expired);
            }
            None if self.require_exp => return Err(VerifyError::MissingClaim("exp".into())),
            _ => {}
        }
        if let Some(nbf) = claims.not_before()
            && now.saturating_add(self.leeway) < nbf
        {
            return Err(VerifyError::NotYetValid);
        }
        if let Check::OneOf(issuers) = &self.issuer {
            let iss = claims
                .issuer()
                .ok_or_else(|| VerifyError::MissingClaim("iss".into()))?;
            if !issuers.iter().any(|i| i == iss) {
                return Err(VerifyError::InvalidIssuer);
            }
        }
        if let Check::OneOf(audiences) = &self.audience {
            match (claims.audience().is_empty(), claims.client_id()) {
                // Cognito access tokens carry no `aud`, only `client_id`; accepted only when
                // the user said so.
                (true, Some(client_id)) if self.client_id_as_audience => {
                    if !audiences.iter().any(|a| a == client_id) {
                        return Err(VerifyError::InvalidAudience);
                    }
                }
                (true, _) => return Err(VerifyError::MissingClaim("aud".into())),
                (false, _) => {
                    if !claims.audience().iter().any(|a| audiences.contains(a)) {
                        return Err(VerifyError::InvalidAudience);
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::ScopeClaim;
    use serde_json::json;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: Check::OneOf(vec!["https://as".into()]),
            audience: Check::OneOf(vec!["api".into()]),
            client_id_as_audience: false,
            leeway: 0,
            require_exp: false,
        }
    }

    fn check(rules: &ClaimRules, json: serde_json::Value) -> Result<(), VerifyError> {
        let claims = Claims::from_json(json, &ScopeClaim::Standard).expect("claims");
        rules.validate(&claims, 1_000)
    }

    #[test]
    fn rfc7519_section_4_1_lifetime_issuer_and_audience() {
        let r = rules();
        let ok = json!({"iss": "https://as", "aud": "api", "exp": 1001, "nbf": 1000});
        assert_eq!(check(&r, ok), Ok(()));
        assert_eq!(
            check(&r, json!({"iss": "https://as", "aud": "api", "exp": 1000})),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            check(&r, json!({"iss": "https://as", "aud": "api", "nbf": 1001})),
            Err(VerifyError::NotYetValid)
        );
        assert_eq!(
            check(&r, json!({"aud": "api"})),
            Err(VerifyError::MissingClaim("iss".into())),
            "a configured issuer must be present"
        );
        assert_eq!(
            check(&r, json!({"iss": "https://as"})),
            Err(VerifyError::MissingClaim("aud".into())),
            "a configured audience must be present"
        );
        assert_eq!(
            check(&r, json!({"iss": "https://other", "aud": "api"})),
            Err(VerifyError::InvalidIssuer)
        );
        assert_eq!(
            check(&r, json!({"iss": "https://as", "aud": ["x", "y"]})),
            Err(VerifyError::InvalidAudience)
        );
        let strict = ClaimRules {
            require_exp: true,
            ..rules()
        };
        assert_eq!(
            check(&strict, json!({"iss": "https://as", "aud": "api"})),
            Err(VerifyError::MissingClaim("exp".into()))
        );
    }
}
