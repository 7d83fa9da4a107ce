"""Policy as code: the rules security reviews, run offline on plans and by CrossGuard (policies/)."""
