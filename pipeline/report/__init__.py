"""What a build tells people: report.json (assemble), the console summary (console), report.html (html,
svg_plots) and the app team's manifest.json (manifest). May import: data, distill (types), store, config,
devices, students, the ground floor. Never stages/.
"""
