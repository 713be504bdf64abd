"""The lab_results workload: one input, three ways to register it in the sandbox."""
