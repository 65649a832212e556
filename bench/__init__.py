"""`scalezoo bench`: driver (rows, goals, table, the CLI's entry), workloads (what each row trains), jax_side and
torch_side (the two workers' halves; torch is imported only there), worker (the processes), probes (CPU time,
memory, machine)."""
