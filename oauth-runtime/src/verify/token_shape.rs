//! What the tokens an authorization server accepted look like, so that a flood of tokens that
//! look like none of them cannot take every turn at its introspection endpoint (issue 18 §1).
//!
//! No verifier can tell a new good token from new junk without asking the server. It can tell
//! a token that *looks like* the ones the server said were active: the same JWT header (an
//! issuer's tokens share it) and about the same length (an issuer's opaque tokens have one
//! length, its JWTs a few nearby ones). Such tokens get turns of their own; a flood of 16 KiB
//! junk then competes only with itself. An attacker who copies the shape of a real token gets
//! into that lane too, where the lane's own bound still holds: the shape keeps the flood that
//! does not bother apart, not the one that does (a rate limit per client does that).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// The part of a token before its first `.`, when it is within this many bytes: a JWT's header.
const MAX_HEAD: usize = 512;

/// How many shapes are remembered: an issuer rotating keys now and then has a few headers.
const MAX_SHAPES: usize = 16;

/// A token's shape: a hash of its JWT header (0 for a token without one) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    head: u64,
    len: usize,
}

impl Shape {
    pub(crate) fn of(token: &str) -> Shape {
        let bytes = token.as_bytes();
        let head = match bytes.iter().take(MAX_HEAD).position(|&b| b == b'.') {
            // A fixed seed: shapes are compared within one process only, and a collision
            // merely puts a token in the other lane.
            Some(end) => {
                foldhash::fast::FixedState::with_seed(0x006f_6175_7468).hash_one(&bytes[..end])
            }
            None => 0,
        };
        Shape {
            head,
            len: bytes.len(),
        }
    }

    /// The same header and a length within a quarter (and 16 bytes) of the other's: a JWT's
    /// payload grows with its `sub` and scopes, not by orders of magnitude.
    fn near(&self, known: &Shape) -> bool {
        self.head == known.head && self.len.abs_diff(known.len) <= known.len / 4 + 16
    }
}

/// The shapes of tokens the server said were active, the most recent [`MAX_SHAPES`].
#[derive(Debug, Default)]
pub(crate) struct ShapeBook {
    known: Mutex<VecDeque<Shape>>,
}

impl ShapeBook {
    pub(crate) fn knows(&self, shape: &Shape) -> bool {
        self.known
            .lock()
            .is_ok_and(|known| known.iter().any(|k| shape.near(k)))
    }

    /// Remembers the shape of a token the server said was active.
    pub(crate) fn learn(&self, shape: Shape) {
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        if let Some(at) = known.iter().position(|k| shape.near(k)) {
            // Most recently confirmed last, so the oldest shape is the one dropped.
            if let Some(seen) = known.remove(at) {
                known.push_back(seen);
            }
            return;
        }
        if known.len() == MAX_SHAPES {
            known.pop_front();
        }
        known.push_back(shape);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0";

    fn jwt(payload_len: usize) -> String {
        format!("{HEADER}.{}.{}", "p".repeat(payload_len), "s".repeat(342))
    }

    #[test]
    fn tokens_like_an_accepted_one_are_known_and_junk_is_not() {
        let book = ShapeBook::default();
        assert!(!book.knows(&Shape::of(&jwt(600))), "nothing learned yet");
        book.learn(Shape::of(&jwt(600)));
        assert!(
            book.knows(&Shape::of(&jwt(640))),
            "another user's longer `sub`"
        );
        assert!(book.knows(&Shape::of(&jwt(560))));
        assert!(!book.knows(&Shape::of(&"j".repeat(16_000))), "16 KiB junk");
        assert!(
            !book.knows(&Shape::of(&jwt(16_000))),
            "the header, but 16 KiB"
        );
        assert!(
            !book.knows(&Shape::of(&format!(
                "eyJhbGciOiJub25lIn0.{}.",
                "p".repeat(940)
            ))),
            "another header"
        );
    }

    #[test]
    fn opaque_tokens_are_known_by_their_length() {
        let book = ShapeBook::default();
        book.learn(Shape::of(
            "ory_at_0123456789abcdefghijklmnopqrstuvwxyzABCDEF",
        ));
        assert!(book.knows(&Shape::of(
            "ory_at_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu"
        )));
        assert!(!book.knows(&Shape::of(&"x".repeat(4096))));
    }

    #[test]
    fn the_book_is_bounded_and_forgets_the_oldest_shape() {
        let book = ShapeBook::default();
        for n in 0..100 {
            book.learn(Shape::of(&format!("h{n}.payload")));
        }
        let known = book.known.lock().map(|k| k.len()).unwrap_or_default();
        assert_eq!(known, MAX_SHAPES);
        assert!(!book.knows(&Shape::of("h0.payload")));
        assert!(book.knows(&Shape::of("h99.payload")));
    }
}
