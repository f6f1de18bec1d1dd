//! Which revisions to forget when history grows past its limit.

use super::record::Status;

/// Revisions to delete so that at most `history_max` remain, oldest first.
///
/// Two revisions are never chosen, even if that leaves more than `history_max`:
/// the last `deployed` one (Helm's rule: it is what a failed upgrade rolls back to)
/// and the newest one (the operation in progress, or the release's current state).
/// `history_max == 0` means no limit, as in Helm.
pub fn select_for_trim(revisions: &[(u32, Status)], history_max: usize) -> Vec<u32> {
    if history_max == 0 || revisions.len() <= history_max {
        return Vec::new();
    }
    let mut sorted: Vec<(u32, Status)> = revisions.to_vec();
    sorted.sort_by_key(|&(rev, _)| rev);
    let newest = sorted.last().map(|&(rev, _)| rev);
    let last_deployed = sorted
        .iter()
        .rev()
        .find(|(_, status)| *status == Status::Deployed)
        .map(|&(rev, _)| rev);
    let excess = sorted.len() - history_max;
    sorted
        .into_iter()
        .map(|(rev, _)| rev)
        .filter(|rev| Some(*rev) != newest && Some(*rev) != last_deployed)
        .take(excess)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn nothing_to_do_within_the_limit_or_without_one() {
        let revs = [(1, Superseded), (2, Deployed)];
        assert!(select_for_trim(&revs, 2).is_empty());
        assert!(select_for_trim(&revs, 10).is_empty());
        assert!(select_for_trim(&revs, 0).is_empty());
    }

    #[test]
    fn deletes_oldest_first_down_to_the_limit() {
        let revs = [
            (3, Superseded),
            (1, Superseded),
            (2, Superseded),
            (4, Failed),
            (5, Deployed),
        ];
        assert_eq!(select_for_trim(&revs, 3), vec![1, 2]);
        assert_eq!(select_for_trim(&revs, 1), vec![1, 2, 3, 4]);
    }

    #[test]
    fn never_deletes_the_last_deployed_even_if_oldest() {
        // Upgrades after revision 1 all failed: 1 is what a rollback needs.
        let revs = [
            (1, Deployed),
            (2, Failed),
            (3, Failed),
            (4, Failed),
            (5, Failed),
        ];
        assert_eq!(select_for_trim(&revs, 2), vec![2, 3, 4]);
        assert_eq!(select_for_trim(&revs, 1), vec![2, 3, 4]);
    }

    #[test]
    fn only_the_newest_deployed_is_protected() {
        // A stale "deployed" left by an interrupted run is not special.
        let revs = [(1, Deployed), (2, Deployed), (3, Failed)];
        assert_eq!(select_for_trim(&revs, 2), vec![1]);
    }

    #[test]
    fn never_deletes_the_operation_in_progress() {
        let revs = [(1, Superseded), (2, Deployed), (3, PendingUpgrade)];
        assert_eq!(select_for_trim(&revs, 1), vec![1]);
        assert_eq!(select_for_trim(&revs, 2), vec![1]);
    }

    #[test]
    fn handles_mixes_of_failed_and_superseded() {
        let revs = [
            (1, Superseded),
            (2, Failed),
            (3, Superseded),
            (4, Failed),
            (5, Deployed),
            (6, Failed),
        ];
        assert_eq!(select_for_trim(&revs, 4), vec![1, 2]);
        assert_eq!(select_for_trim(&revs, 2), vec![1, 2, 3, 4]);
        // Nothing deployed at all (every install failed): plain oldest-first.
        let revs = [(1, Failed), (2, Failed), (3, Failed)];
        assert_eq!(select_for_trim(&revs, 1), vec![1, 2]);
    }
}
