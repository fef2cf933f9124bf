-- stage_notes: what the layer, cross-root and catalog steps found per stage of one root.
-- Parameters: ? = root
SELECT stage, layers, cross_root, catalog_sites FROM stage_notes WHERE root = ? ORDER BY stage;
