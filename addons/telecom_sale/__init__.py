# Products of the telecom suite: phones, services, minute packs and extra
# concurrent calls sold once or by subscription, and the shop orders that
# become Tryton sales; see README.md here.
