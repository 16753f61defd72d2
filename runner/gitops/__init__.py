"""Git and GitHub: what a change touched, the code a run came from, earlier runs,
trusted run records, commits and pushes of run records, the pull-request comment."""
