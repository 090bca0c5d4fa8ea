"""Client of the call-control API (v1) as the bridge uses it."""
import httpx


class ApiUnavailable(Exception):
    "No usable answer: connection error, timeout, 5xx or garbage. Retry."


class ApiRejected(Exception):
    "The API refused the request as bad (4xx): retrying will not help."

    def __init__(self, status, body):
        super().__init__('HTTP %s: %s' % (status, body))
        self.status = status
        self.body = body


class CallControlClient:
    def __init__(self, base_url, api_key, timeout=5.0,
            authorize_timeout=2.0):
        self.authorize_timeout = authorize_timeout
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip('/'), timeout=timeout,
            headers={'Authorization': 'Bearer %s' % api_key})

    async def aclose(self):
        await self.http.aclose()

    async def authorize(self, request):
        return await self.post('/v1/authorize', request,
            timeout=self.authorize_timeout)

    async def post(self, path, body, timeout=None):
        """POST JSON; return the decoded answer (None when empty).
        Raise ApiUnavailable or ApiRejected."""
        kwargs = {} if timeout is None else {'timeout': timeout}
        try:
            response = await self.http.post(path, json=body, **kwargs)
        except httpx.HTTPError as exception:
            raise ApiUnavailable('%s: %s' % (
                    type(exception).__name__, exception)) from exception
        if response.status_code >= 500:
            raise ApiUnavailable('HTTP %s' % response.status_code)
        if response.status_code >= 400:
            raise ApiRejected(response.status_code, response.text[:500])
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exception:
            raise ApiUnavailable('invalid JSON answer') from exception
