"The OpenAPI document of the call-control API, served at /openapi.json"

_reason = {
    'type': 'string',
    'enum': ['ok', 'emergency', 'insufficient_credit', 'concurrency_limit',
        'unknown_account', 'account_suspended', 'no_route',
        'invalid_number', 'call_completed']}
_error = {
    'type': 'object', 'required': ['error'],
    'properties': {
        'error': {'type': 'string'}, 'field': {'type': 'string'}}}
_errors = {
    '400': {'description': "The body is not valid; the error names the "
        "field.", 'content': {'application/json': {'schema': _error}}},
    '401': {'description': "Missing or unknown API key."},
    '413': {'description': "Body too large."},
    }
_refusal = {
    'type': 'object', 'required': ['result', 'reason', 'error'],
    'properties': {
        'result': {'type': 'string', 'enum': ['refused']},
        'reason': {'type': 'string', 'enum': ['unknown_account', 'unknown',
            'redeemed', 'expired', 'currency',
            'invalid_account']},
        'error': {'type': 'string'}}}
_number = {'type': 'string', 'pattern': r'^\+?[0-9]{1,32}$'}
# A number, or (inbound) the user part of a SIP address (F5).
_callee = {'type': 'string',
    'pattern': r"^[A-Za-z0-9\-_.!~*'()&=+$,;?/]{1,64}$"}
_instant = {'type': 'string', 'format': 'date-time'}
_cdr = {
    'type': 'object',
    'required': ['call_id', 'callee', 'start', 'end', 'billable_seconds'],
    'properties': {
        'call_id': {'type': 'string', 'maxLength': 128},
        'leg': {'type': 'string', 'maxLength': 16},
        'direction': {'type': 'string', 'enum': ['outbound', 'inbound']},
        'caller': _number, 'callee': _number,
        'start': _instant, 'answer': _instant, 'end': _instant,
        'billable_seconds': {'type': 'integer', 'minimum': 0,
            'maximum': 864000},
        'disposition': {'type': 'string',
            'enum': ['ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED']},
        'hangup_cause': {'type': 'integer', 'minimum': 0, 'maximum': 127},
        'account': {'type': 'string', 'maxLength': 64},
        'carrier': {'type': 'string', 'maxLength': 64},
        'service': {'type': 'string', 'enum': ['voice', 'fax', 'sms'],
            'default': 'voice', 'description': "Rated on the account's "
            "plan of this service. An SMS is one message: delivered "
            "(disposition ANSWERED) it costs its plan's price per "
            "minute, whatever billable_seconds says."},
        'pdd_ms': {'type': 'integer', 'minimum': 0, 'maximum': 3600000,
            'description': "Post-dial delay: milliseconds from the INVITE "
            "to the carrier to its first ringing or answer (the quality "
            "statistics' PDD)."},
        },
    'description': "Refused (its index, reason and field in `rejected`; "
    "a single CDR: 400) when implausible: billable_seconds more than "
    "end - start (plus a few seconds), a start before [telecom] "
    "cdr_earliest (2000-01-01) or over cdr_future_days (1) ahead, an "
    "answer or end before the start."}

DOCUMENT = {
    'openapi': '3.0.3',
    'info': {
        'title': "Telecom call control",
        'version': '1',
        'description': "Decisions for switches (authorize), call events "
        "and CDR ingest. Every request carries the switch's key, as "
        "`Authorization: Bearer <key>` or as the password of HTTP basic "
        "authentication (any user name; for clients such as Kamailio's "
        "http_client that keep connections open only with credentials of "
        "that kind); the key scopes the switch to its tenant's accounts."},
    'components': {'securitySchemes': {
            'switchKey': {'type': 'http', 'scheme': 'bearer'},
            'switchKeyAsPassword': {'type': 'http', 'scheme': 'basic'}}},
    'security': [{'switchKey': []}, {'switchKeyAsPassword': []}],
    'paths': {
        '/v1/authorize': {'post': {
                'summary': "Identify the account, take the concurrency "
                "slot and the prepaid reservation, route the call.",
                'requestBody': {'required': True, 'content': {
                        'application/json': {'schema': {
                                'type': 'object',
                                'required': ['call_id', 'callee'],
                                'properties': {
                                    'call_id': {'type': 'string',
                                        'maxLength': 128},
                                    'leg': {'type': 'string',
                                        'maxLength': 16},
                                    'direction': {'type': 'string',
                                        'enum': ['outbound', 'inbound']},
                                    'service': {'type': 'string',
                                        'enum': ['voice', 'fax', 'sms']},
                                    'caller': _number,
                                    'callee': _callee,
                                    'sip_username': {'type': 'string',
                                        'maxLength': 128},
                                    'source_ip': {'type': 'string',
                                        'maxLength': 64},
                                    'sip_domain': {'type': 'string',
                                        'maxLength': 128},
                                    'interim_updates': {
                                        'type': 'boolean',
                                        'description': "The switch will "
                                        "extend the call with /update: a "
                                        "money account's call is granted "
                                        "a slice at a time."},
                                    }}}}},
                'responses': {
                    '200': {'description': "The decision", 'content': {
                            'application/json': {'schema': {
                                    'type': 'object',
                                    'required': ['decision', 'reason'],
                                    'properties': {
                                        'decision': {'type': 'string',
                                            'enum': ['allow', 'deny']},
                                        'reason': _reason,
                                        'q850': {'type': 'integer'},
                                        'sip_code': {'type': 'integer'},
                                        'account': {'type': 'string'},
                                        'max_duration': {
                                            'type': 'integer',
                                            'nullable': True},
                                        'price_per_minute': {
                                            'type': 'string'},
                                        'currency': {'type': 'string'},
                                        'final': {'type': 'boolean'},
                                        'routes': {'type': 'array'},
                                        'rtjson': {'type': 'object'},
                                        }}}}},
                    **_errors}}},
        '/v1/calls/{call_id}/answer': {'post': {
                'summary': "The call was answered.",
                'parameters': [{'name': 'call_id', 'in': 'path',
                        'required': True, 'schema': {'type': 'string',
                            'maxLength': 128}}],
                'requestBody': {'content': {'application/json': {
                            'schema': {'type': 'object', 'properties': {
                                    'leg': {'type': 'string'},
                                    'answered_at': _instant}}}}},
                'responses': {'204': {'description': "Recorded"},
                    **_errors}}},
        '/v1/calls/{call_id}/update': {'post': {
                'summary': "An interim update: the call is granted one "
                "more slice, as much as the money allows; final: it must "
                "end at max_duration (warning played, then cut).",
                'parameters': [{'name': 'call_id', 'in': 'path',
                        'required': True, 'schema': {'type': 'string',
                            'maxLength': 128}}],
                'requestBody': {'content': {'application/json': {
                            'schema': {'type': 'object', 'properties': {
                                    'leg': {'type': 'string'}}}}}},
                'responses': {'200': {'description': "The grant",
                        'content': {'application/json': {'schema': {
                                    'type': 'object', 'properties': {
                                        'max_duration': {
                                            'type': 'integer',
                                            'nullable': True},
                                        'final': {'type': 'boolean'}}}}}},
                    '404': {'description': "No live call with this id"},
                    **_errors}}},
        '/v1/calls/{call_id}/end': {'post': {
                'summary': "The call ended: its slot is freed; its "
                "reservation is kept until its CDR is rated.",
                'parameters': [{'name': 'call_id', 'in': 'path',
                        'required': True, 'schema': {'type': 'string',
                            'maxLength': 128}}],
                'requestBody': {'content': {'application/json': {
                            'schema': {'type': 'object', 'properties': {
                                    'leg': {'type': 'string'},
                                    'ended_at': _instant,
                                    'cause': {'type': 'integer'}}}}}},
                'responses': {'204': {'description': "Recorded"},
                    **_errors}}},
        '/v1/cdrs': {'post': {
                'summary': "Store CDRs, idempotently on switch, call id "
                "and leg; the API's rating worker rates them moments "
                "later. A CDR of no known account is ignored (with its "
                "reason) when there is nothing to bill — an emergency "
                "call, a call never authorized nor answered — and "
                "rejected otherwise.",
                'requestBody': {'required': True, 'content': {
                        'application/json': {'schema': {'oneOf': [
                                    _cdr,
                                    {'type': 'object',
                                        'required': ['cdrs'],
                                        'properties': {'cdrs': {
                                                'type': 'array',
                                                'maxItems': 10000,
                                                'items': _cdr}}}]}}}},
                'responses': {
                    '200': {'description': "What was stored", 'content': {
                            'application/json': {'schema': {
                                    'type': 'object', 'properties': {
                                        'accepted': {'type': 'integer'},
                                        'duplicates': {'type': 'integer'},
                                        'rejected': {'type': 'array'},
                                        'ignored': {'type': 'array'}}}}}},
                    '409': {'description': "A CDR of this switch, call id "
                        "and leg is already stored with other values: "
                        "never overwritten. `conflicts` lists each (its "
                        "index, the fields that differ, the stored "
                        "values); the batch's other CDRs are stored.",
                        'content': {'application/json': {'schema': {
                                    'type': 'object', 'properties': {
                                        'conflicts': {'type': 'array'},
                                        'error': {'type': 'string'}}}}}},
                    **_errors}}},
        '/v1/reconcile': {'post': {
                'summary': "The calls the switch has up now: slots of "
                "other calls of this switch are released.",
                'requestBody': {'required': True, 'content': {
                        'application/json': {'schema': {
                                'type': 'object', 'required': ['calls'],
                                'properties': {'calls': {
                                        'type': 'array', 'items': {
                                            'type': 'object',
                                            'properties': {
                                                'call_id': {
                                                    'type': 'string'},
                                                'leg': {
                                                    'type': 'string'}}}}}}}}},
                'responses': {'200': {'description': "Released slots"},
                    **_errors}}},
        '/v1/vouchers/redeem': {'post': {
                'summary': "Redeem a prepaid voucher by phone: the value "
                "is credited to the account's balance exactly once. Give "
                "the account's code, or the caller's number when the "
                "customer calls from one of its numbers.",
                'requestBody': {'required': True, 'content': {
                        'application/json': {'schema': {
                                'type': 'object', 'required': ['code'],
                                'properties': {
                                    'code': {'type': 'string',
                                        'maxLength': 64,
                                        'description': "As printed; "
                                        "case, spaces and dashes do not "
                                        "matter."},
                                    'account': {'type': 'string',
                                        'maxLength': 64},
                                    'caller': _number}}}}},
                'responses': {
                    '200': {'description': "Credited", 'content': {
                            'application/json': {'schema': {
                                    'type': 'object', 'properties': {
                                        'result': {'type': 'string',
                                            'enum': ['credited']},
                                        'account': {'type': 'string'},
                                        'amount': {'type': 'string'},
                                        'currency': {'type': 'string'},
                                        'balance': {
                                            'type': 'string'}}}}}},
                    '404': {'description': "No account of the switch's "
                        "tenants has that code or number.",
                        'content': {'application/json': {
                                'schema': _refusal}}},
                    '422': {'description': "Refused; reason: unknown, "
                        "redeemed, expired, currency or "
                        "invalid_account (not an active prepaid account).",
                        'content': {'application/json': {
                                'schema': _refusal}}},
                    **_errors}}},
        },
    }
