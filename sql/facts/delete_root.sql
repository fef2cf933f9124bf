-- delete_root: remove a root's facts and alignment rates before they are stored again.
-- Parameters: ? = root (each statement)
DELETE FROM kernel_facts WHERE root = ?;
DELETE FROM alignment_rates WHERE root = ?;
DELETE FROM stage_notes WHERE root = ?;
