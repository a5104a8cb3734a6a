from tests.support import mail

# The aiosmtpd fixtures (pytest_plugins may only be set in the root conftest).
smtp_server_session = mail.smtp_server_session
smtp_server = mail.smtp_server
smtp_server_with_auth = mail.smtp_server_with_auth
