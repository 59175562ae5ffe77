"""Customer groups, campaigns with control groups and uplift, and the branch
floor (referrals, micro-salons, outbound visits): the work branch heads and HQ
run on groups of customers, above the day's triggered tasks."""
