"""A brand's logo as uploaded by its reseller: an SVG is cleaned to
drawing alone (no script, event handler, foreign content or reference
outside the file), a PNG or JPEG must be one. The portal serves the logo
with a sandboxing CSP as well (views_public.brand_logo): cleaning keeps
the invoice PDFs and any other reader of the file safe too."""
from lxml import etree

MAX_SIZE = 200 * 1024
SVG = '{http://www.w3.org/2000/svg}'
XLINK_HREF = '{http://www.w3.org/1999/xlink}href'
# Elements that run, embed or fetch something: dropped with their content.
DROPPED = {'script', 'foreignObject', 'iframe', 'object', 'embed', 'audio',
    'video', 'image', 'handler', 'listener', 'animate', 'set',
    'animateTransform', 'animateMotion'}
SIGNATURES = {
    'image/png': b'\x89PNG\r\n\x1a\n',
    'image/jpeg': b'\xff\xd8\xff',
    }


class Refused(ValueError):
    "Why the file is not taken as a logo"


def _local(name):
    return etree.QName(name).localname if isinstance(name, str) else None


def clean_svg(data):
    "The SVG ``data`` (bytes) without anything active, as bytes"
    parser = etree.XMLParser(resolve_entities=False, no_network=True,
        load_dtd=False, huge_tree=False, remove_comments=True,
        remove_pis=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        raise Refused("This SVG file cannot be read: save it again from "
            "your drawing program as plain SVG.")
    if root.tag != SVG + 'svg':
        raise Refused("This file is not an SVG image.")
    for element in list(root.iter()):
        if _local(element.tag) in DROPPED or not isinstance(
                element.tag, str):
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
            continue
        for name, value in list(element.attrib.items()):
            local = _local(name).lower()
            if local.startswith('on'):
                del element.attrib[name]
            elif (name == XLINK_HREF or local == 'href') and not (
                    value.startswith('#')):
                del element.attrib[name]
            elif local == 'style' and any(word in value.lower()
                    for word in ['url(', 'expression', '@import']):
                del element.attrib[name]
        if _local(element.tag) == 'style' and element.text and any(
                word in element.text.lower()
                for word in ['url(', '@import', 'expression']):
            element.text = ''
    return etree.tostring(root, xml_declaration=True, encoding='utf-8')


def read_logo(filename, data):
    "(bytes, mimetype) of an uploaded logo, or Refused"
    if len(data) > MAX_SIZE:
        raise Refused(f"The logo is larger than {MAX_SIZE // 1024} KB.")
    name = (filename or '').lower()
    if name.endswith('.svg'):
        return clean_svg(data), 'image/svg+xml'
    for mimetype, signature in SIGNATURES.items():
        if data.startswith(signature):
            return data, mimetype
    raise Refused("Send an SVG, PNG or JPEG image.")
