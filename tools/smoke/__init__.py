"""`make smoke`: a check of a deployed Tandem, run after every deploy (AWS credentials and the deployed
stacks needed; never part of `make test`).

    .venv/bin/python -m tools.smoke [--region R] [--keep] [--timeout S]

In order, one report line per check (PASS, FAIL or SKIP, the part, a detail):
1. outputs     the deployed stacks' outputs (outputs.py): TandemChatbot, TandemEscalation, TandemData;
2. sign-in     a throw-away customer in the user pool, signed in on the public client, TOTP MFA set up
               when the pool requires it (signin.py);
3. answer      an ordinary question to POST /chat: 200, a reply, no model error (chat.py);
4. escalate    an angry message asking for a human, marked as a smoke test: the reply says escalated;
5. escalation, workflow, transcript
               the ESCALATION item, the workflow execution named after it, RUNNING, and the S3 transcript
               with both customer turns, each polled until --timeout (checks.py);
6. model       when the answer carried a model error: why, from the Bedrock control plane (diagnose.py);
7. experts     the experts topic has a confirmed email subscription (diagnose.py);
8. cleanup     what the run created is deleted, even after a failure, unless --keep (cleanup.py).

Exit code 0 when every check passed, 1 when one failed (the report names it). Passwords, tokens and TOTP
secrets never reach the report (report.py `Hidden`). run.py puts the parts together; cli.py is the command.
"""
