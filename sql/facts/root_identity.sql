-- root_identity: the framework and model discovery gave a root (the kernel-site catalog is per framework).
-- Parameters: ? = root
SELECT framework, model FROM trace_roots WHERE root = ?;
