-- series_delete: remove roots from diff_series before they are placed again.
-- Parameters: ? = roots (TEXT[])
DELETE FROM diff_series WHERE list_contains(?, root);
