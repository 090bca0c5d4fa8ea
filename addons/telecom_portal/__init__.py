# The web portal of the telecom suite for customers and resellers:
# self-service, branding, sign-up and shop; see README.md here.
# Its classes are registered in tryton.cfg; the web application itself is
# in web/ and runs as the ``telecom-portal`` process.
