"""Process plumbing for the entry points: connections, namespace set-up, logging. Never imported by workflows."""
