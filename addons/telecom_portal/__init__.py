# The web portal of the telecom suite for customers and resellers:
# self-service, branding, sign-up and shop; see README.md here.
from trytond.pool import Pool


def register():
    Pool.register(module='telecom_portal', type_='model')
