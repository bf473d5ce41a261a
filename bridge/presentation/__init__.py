"""How the record reads to a person, shared by the dashboard (bridge.server) and the printable packet
(bridge.exports.packet): the Jinja filters for dates, kinds and portals (filters.py) and the trend
charts as inline SVG (charts.py). It depends on neither of them, so each imports it directly."""
