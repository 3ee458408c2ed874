"""Dosewise's HL7 FHIR R4 interface (a shell, like the API): /fhir/R4/.

The `fhir` name is shared with the fhir.resources library (whose package is also `fhir`, with one subpackage,
`resources`). The tests validate what this app emits with `fhir.resources.R4B`, so this package extends its
path to the library's `fhir` folder where one is installed (pkgutil's namespace idiom): `fhir.resources` is
the library, never a module of this app (which names its FHIR mapping `fhir.mapping`).
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
