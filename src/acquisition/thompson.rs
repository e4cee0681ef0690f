//! Thompson sampling with the ensemble: each proposal follows one member, drawn at random.

use rand::{Rng, RngCore};

use super::{Acquisition, Scores, Smooth};

/// The objective as predicted by one ensemble member (a draw from the ensemble's posterior);
/// [`Acquisition::redraw`] picks another member for the next proposal.
#[derive(Debug, Clone, Copy)]
pub struct Thompson {
    /// The member currently followed.
    pub member: usize,
    members: usize,
}

impl Thompson {
    /// Draws the first member of `members`.
    pub fn new(members: usize, rng: &mut dyn RngCore) -> Self {
        Thompson {
            member: rng.random_range(0..members.max(1)),
            members: members.max(1),
        }
    }
}

impl Acquisition for Thompson {
    fn name(&self) -> String {
        format!("thompson(member={})", self.member)
    }
    fn score(&self, s: &Scores) -> Vec<f64> {
        let objective = s
            .member_objective
            .as_ref()
            .expect("build() refuses Thompson sampling for surrogates without members");
        objective[self.member * s.rows()..(self.member + 1) * s.rows()].to_vec()
    }
    fn smooth(&self) -> Option<Smooth> {
        Some(Smooth::Member(self.member))
    }
    fn redraw(&mut self, rng: &mut dyn RngCore) -> bool {
        self.member = rng.random_range(0..self.members);
        true
    }
}
